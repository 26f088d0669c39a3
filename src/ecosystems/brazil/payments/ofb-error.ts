import { OAuthError } from '../../../oauth/errors.js';

/** Timestamps as OFB writes them: UTC, seconds, no fraction (2024-01-31T12:00:00Z). */
export const ofbTime = (ms: number = Date.now()): string => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

const TITLES: Record<number, string> = {
  400: 'Requisição malformada',
  401: 'Não autorizado',
  403: 'Proibido',
  404: 'Não encontrado',
  409: 'Conflito',
  415: 'Tipo de mídia não suportado',
  422: 'Entidade não processável',
  503: 'Serviço indisponível',
};

/** A refusal in the Open Finance Brasil error envelope: `{ errors: [{ code, title, detail }], meta: { requestDateTime } }`. */
export class OfbError extends OAuthError {
  constructor(
    status: number,
    readonly code: string,
    detail: string,
    headers: Record<string, string> = {},
  ) {
    super(code, detail, status, headers);
  }

  envelope(): Record<string, unknown> {
    return { errors: [{ code: this.code, title: TITLES[this.status] ?? this.code, detail: this.description }], meta: { requestDateTime: ofbTime() } };
  }

  override toJSON(): Record<string, string> {
    return this.envelope() as never;
  }
}
