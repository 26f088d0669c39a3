import type { FastifyReply } from 'fastify';
import { NO_STORE } from '../../../http/error-handler.js';
import { OAuthError } from '../../../oauth/errors.js';
import { ofbDateTime } from '../consents/consent.js';

/** A refusal with its Open Finance Brasil error code. */
export class OfbError extends OAuthError {
  constructor(
    status: number,
    readonly code: string,
    readonly title: string,
    detail: string,
    headers: Record<string, string> = {},
  ) {
    super(status === 401 ? 'invalid_token' : status === 403 ? 'insufficient_scope' : status >= 500 ? 'server_error' : 'invalid_request', detail, status, headers);
  }
}

// The code and title of each status the gateway itself answers with (every OFB API of the pack).
export const OFB_ERROR_TITLES: Record<number, [string, string]> = {
  400: ['PARAMETRO_INVALIDO', 'Parâmetro inválido'],
  401: ['NAO_AUTORIZADO', 'Não autorizado'],
  403: ['PERMISSAO_INSUFICIENTE', 'Permissão insuficiente'],
  404: ['NAO_ENCONTRADO', 'Recurso não encontrado'],
  405: ['METODO_NAO_PERMITIDO', 'Método não permitido'],
  406: ['NAO_ACEITAVEL', 'Formato não aceito'],
  413: ['CONTEUDO_MUITO_GRANDE', 'Requisição muito grande'],
  415: ['FORMATO_NAO_SUPORTADO', 'Formato não suportado'],
  429: ['MUITAS_REQUISICOES', 'Muitas requisições'],
  500: ['ERRO_INTERNO', 'Erro interno'],
  502: ['ERRO_GATEWAY', 'Serviço indisponível'],
  503: ['SERVICO_INDISPONIVEL', 'Serviço indisponível'],
  504: ['TEMPO_ESGOTADO', 'Tempo de resposta esgotado'],
};

/** Answers a gateway error in the OFB envelope, keeping its headers (WWW-Authenticate, Retry-After, Allow). */
export function renderOfbError(reply: FastifyReply, err: OAuthError): FastifyReply {
  const [code, title] = err instanceof OfbError ? [err.code, err.title] : (OFB_ERROR_TITLES[err.status] ?? (err.status < 500 ? OFB_ERROR_TITLES[400] : OFB_ERROR_TITLES[500]));
  const body = { errors: [{ code, title, detail: err.description }], meta: { requestDateTime: ofbDateTime(Math.floor(Date.now() / 1000)) } };
  return reply.code(err.status).headers(NO_STORE).headers(err.headers).type('application/json').send(body);
}
