import { randomUUID } from 'node:crypto';
import type { Grants } from '../../../grants/grant.js';
import type { Store } from '../../../store/store.js';
import { OfbError, ofbTime } from './ofb-error.js';

export type PaymentConsentStatus = 'AWAITING_AUTHORISATION' | 'PARTIALLY_ACCEPTED' | 'AUTHORISED' | 'CONSUMED' | 'REJECTED';

/** Why a payment consent was rejected (Payments API v4 `rejectionReason.code`). */
export type RejectionCode =
  | 'TEMPO_EXPIRADO_AUTORIZACAO'
  | 'TEMPO_EXPIRADO_CONSUMO'
  | 'REJEITADO_USUARIO'
  | 'FALHA_INFRAESTRUTURA'
  | 'VALOR_INVALIDO'
  | 'NAO_INFORMADO'
  | 'CONTAS_ORIGEM_DESTINO_IGUAIS'
  | 'CONTA_NAO_PERMITE_PAGAMENTO'
  | 'SALDO_INSUFICIENTE'
  | 'VALOR_ACIMA_LIMITE'
  | 'QRCODE_INVALIDO';

/** A payment consent as stored. Times are ms since the epoch. */
export interface PaymentConsent {
  consentId: string;
  clientId: string;
  /** The TPP's organisation id (its certificate's organizationIdentifier): `aud` of the signed responses. */
  organisationId: string;
  status: PaymentConsentStatus;
  createdAt: number;
  statusUpdatedAt: number;
  /** What the TPP asked for: loggedUser, businessEntity, creditor, payment, debtorAccount. */
  request: Record<string, unknown>;
  /** The debtor account the customer chose at authorisation, when the TPP named none. */
  debtorAccount?: Record<string, unknown>;
  rejectionReason?: { code: RejectionCode; detail: string };
  /** The grant whose tokens initiate the payment: ended when the consent is consumed or rejected. */
  grantId?: string;
}

/** A consent waits this long for the customer (Payments v4: 5 minutes)... */
export const AWAITING_SECONDS = 300;
/** ...and, once authorised, this long after its last status update to be consumed (60 minutes). */
export const AUTHORISED_SECONDS = 3600;
/** Records stay readable this long after their last change (GET of a consumed or rejected consent). */
const KEEP_SECONDS = 30 * 86_400;
/** The lock that makes a status change atomic across replicas; a crashed holder frees it this soon. */
const LOCK_SECONDS = 10;

export interface AuditLog {
  info(fields: Record<string, unknown>, message: string): void;
}

/**
 * The payment consents the authorization flow works with. The consents part's `consent:{id}` PAR
 * handling calls it for ids that are payment consents (get returns undefined for any other id):
 *
 * - `get(id)`: the consent as it stands now (timeouts applied), or undefined. At PAR the consent must
 *   belong to the client (`clientId`) and be AWAITING_AUTHORISATION or PARTIALLY_ACCEPTED; the
 *   authorization's scope is then `payments` (with openid).
 * - `authorise(id, { grantId, debtorAccount?, partial? })`: when the customer approves. AUTHORISED
 *   (expiring 60 minutes later), or PARTIALLY_ACCEPTED while more approvers are due (`partial`). Give
 *   the grant created for the approval: it ends when the consent is consumed or rejected, so no
 *   refresh token outlives a CONSUMED consent.
 * - `reject(id, { code, detail })`: when the customer denies, or the login does not match the consent
 *   (REJEITADO_USUARIO); ends the grant if there is one.
 * - `consume(id)`: when the payment is made from it (AUTHORISED → CONSUMED); ends the grant.
 *
 * Changes are atomic across replicas (a short lock per consent); a change from a state that does not
 * allow it fails with an OfbError (422 or 409). Every change is audited.
 */
export interface PaymentConsentsApi {
  get(consentId: string): Promise<PaymentConsent | undefined>;
  authorise(consentId: string, input: { grantId?: string; debtorAccount?: Record<string, unknown>; partial?: boolean }): Promise<PaymentConsent>;
  reject(consentId: string, reason: { code: RejectionCode; detail: string }): Promise<PaymentConsent>;
  consume(consentId: string): Promise<PaymentConsent>;
}

/** When the consent's current status ends by itself, if it does (ms). */
export function statusExpiresAt(consent: PaymentConsent): number | undefined {
  if (consent.status === 'AWAITING_AUTHORISATION' || consent.status === 'PARTIALLY_ACCEPTED') return consent.createdAt + AWAITING_SECONDS * 1000;
  if (consent.status === 'AUTHORISED') return consent.statusUpdatedAt + AUTHORISED_SECONDS * 1000;
  return undefined;
}

export class PaymentConsents implements PaymentConsentsApi {
  #store: Store | undefined;
  #grants: Grants | undefined;
  #log: AuditLog | undefined;

  constructor(private readonly urnPrefix: string) {}

  /** Once the gateway's context exists. */
  attach(store: Store, grants: Grants): void {
    this.#store = store;
    this.#grants = grants;
  }

  useLog(log: AuditLog): void {
    this.#log = log;
  }

  async create(input: { clientId: string; organisationId: string; request: Record<string, unknown> }): Promise<PaymentConsent> {
    const now = Date.now();
    const consent: PaymentConsent = {
      consentId: `urn:${this.urnPrefix}:${randomUUID()}`,
      clientId: input.clientId,
      organisationId: input.organisationId,
      status: 'AWAITING_AUTHORISATION',
      createdAt: now,
      statusUpdatedAt: now,
      request: input.request,
    };
    await this.#storeOf().set('payment-consent', consent.consentId, consent, KEEP_SECONDS);
    this.#audit('payment_consent_created', consent);
    return consent;
  }

  async get(consentId: string): Promise<PaymentConsent | undefined> {
    if (typeof consentId !== 'string' || consentId.length > 200) return undefined;
    const consent = await this.#storeOf().get<PaymentConsent>('payment-consent', consentId);
    if (!consent) return undefined;
    const expiresAt = statusExpiresAt(consent);
    if (expiresAt === undefined || Date.now() <= expiresAt) return consent;
    // Its time ran out: rejected as of then, written back by whoever reads it first (a reader that
    // finds the consent being changed answers the same without writing).
    try {
      return await this.#change(consentId, timedOut, true);
    } catch (err) {
      if (err instanceof OfbError && err.status === 409) return timedOut(consent);
      throw err;
    }
  }

  authorise(consentId: string, input: { grantId?: string; debtorAccount?: Record<string, unknown>; partial?: boolean }): Promise<PaymentConsent> {
    return this.#changeCurrent(consentId, (c) => {
      if (c.status !== 'AWAITING_AUTHORISATION' && c.status !== 'PARTIALLY_ACCEPTED') throw wrongStatus(c, 'authorised');
      return {
        ...c,
        status: input.partial ? 'PARTIALLY_ACCEPTED' : 'AUTHORISED',
        statusUpdatedAt: Date.now(),
        ...(input.grantId !== undefined ? { grantId: input.grantId } : {}),
        ...(input.debtorAccount !== undefined ? { debtorAccount: input.debtorAccount } : {}),
      };
    });
  }

  reject(consentId: string, reason: { code: RejectionCode; detail: string }): Promise<PaymentConsent> {
    return this.#changeCurrent(consentId, (c) => {
      if (c.status === 'CONSUMED' || c.status === 'REJECTED') throw wrongStatus(c, 'rejected');
      return { ...c, status: 'REJECTED', statusUpdatedAt: Date.now(), rejectionReason: reason };
    });
  }

  consume(consentId: string): Promise<PaymentConsent> {
    return this.#changeCurrent(consentId, (c) => {
      if (c.status !== 'AUTHORISED') throw wrongStatus(c, 'consumed');
      return { ...c, status: 'CONSUMED', statusUpdatedAt: Date.now() };
    });
  }

  /** A change to the consent as it stands now (a timeout applied first). */
  async #changeCurrent(consentId: string, change: (c: PaymentConsent) => PaymentConsent): Promise<PaymentConsent> {
    const current = await this.get(consentId);
    if (!current) throw new OfbError(404, 'RECURSO_NAO_ENCONTRADO', 'no such payment consent');
    return this.#change(consentId, change, false);
  }

  async #change(consentId: string, change: (c: PaymentConsent) => PaymentConsent, expiry: boolean): Promise<PaymentConsent> {
    const store = this.#storeOf();
    const lock = `${consentId}\u0000lock`;
    if (!(await store.setIfAbsent('payment-consent', lock, 1, LOCK_SECONDS)))
      throw new OfbError(409, 'CONSENTIMENTO_EM_ALTERACAO', 'the payment consent is being changed; retry');
    try {
      const before = await store.get<PaymentConsent>('payment-consent', consentId);
      if (!before) throw new OfbError(404, 'RECURSO_NAO_ENCONTRADO', 'no such payment consent');
      const after = change(before);
      if (after === before) return before;
      await store.set('payment-consent', consentId, after, KEEP_SECONDS);
      if ((after.status === 'CONSUMED' || after.status === 'REJECTED') && after.grantId !== undefined) await this.#grants?.end(after.grantId);
      this.#audit(expiry ? 'payment_consent_expired' : `payment_consent_${after.status.toLowerCase()}`, after, before.status);
      return after;
    } finally {
      await store.delete('payment-consent', lock).catch(() => undefined);
    }
  }

  #audit(event: string, consent: PaymentConsent, from?: PaymentConsentStatus): void {
    this.#log?.info(
      { audit: event, consentId: consent.consentId, clientId: consent.clientId, status: consent.status, ...(from ? { from } : {}), ...(consent.rejectionReason ? { reason: consent.rejectionReason.code } : {}) },
      event,
    );
  }

  #storeOf(): Store {
    if (!this.#store) throw new Error('the payments part has not started');
    return this.#store;
  }
}

function timedOut(c: PaymentConsent): PaymentConsent {
  const end = statusExpiresAt(c);
  if (end === undefined || Date.now() <= end) return c;
  const code = c.status === 'AUTHORISED' ? 'TEMPO_EXPIRADO_CONSUMO' : 'TEMPO_EXPIRADO_AUTORIZACAO';
  const detail = c.status === 'AUTHORISED' ? 'the consent was not used within 60 minutes of its authorisation' : 'the consent was not authorised within 5 minutes';
  return { ...c, status: 'REJECTED', statusUpdatedAt: end, rejectionReason: { code, detail } };
}

function wrongStatus(consent: PaymentConsent, wanted: string): OfbError {
  return new OfbError(422, 'STATUS_CONSENTIMENTO_INVALIDO', `a payment consent in status ${consent.status} cannot be ${wanted}`);
}

/** The consent as the API shows it (data of the Payments v4 consent response). */
export function consentData(consent: PaymentConsent): Record<string, unknown> {
  const expiresAt = statusExpiresAt(consent);
  const { loggedUser, businessEntity, creditor, payment, debtorAccount } = consent.request;
  return {
    consentId: consent.consentId,
    creationDateTime: ofbTime(consent.createdAt),
    expirationDateTime: ofbTime(expiresAt ?? consent.statusUpdatedAt),
    statusUpdateDateTime: ofbTime(consent.statusUpdatedAt),
    status: consent.status,
    loggedUser,
    ...(businessEntity !== undefined ? { businessEntity } : {}),
    creditor,
    payment,
    ...(consent.debtorAccount ?? debtorAccount ? { debtorAccount: consent.debtorAccount ?? debtorAccount } : {}),
    ...(consent.rejectionReason ? { rejectionReason: consent.rejectionReason } : {}),
  };
}
