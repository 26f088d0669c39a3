import type { GatewayContext } from '../../../context.js';
import type { Grant } from '../../../grants/grant.js';
import type { AuthorizationRequest } from '../../../oauth/authorization-request.js';
import { invalidRequest, OAuthError } from '../../../oauth/errors.js';
import type { EcosystemHooks } from '../../hooks.js';
import { OfbError } from './ofb-error.js';
import { statusExpiresAt, type PaymentConsent, type PaymentConsents } from './payment-consents.js';

/** What a grant made from a payment consent carries (read by the payment initiation API). */
export interface BrazilPaymentGrantExtension {
  consentId: string;
}

const CONSENT_SCOPE = /^consent:(.+)$/;
const AWAITING = new Set(['AWAITING_AUTHORISATION', 'PARTIALLY_ACCEPTED']);

const consentIdOf = (request: AuthorizationRequest) => (request.extensions.brazilPayment as BrazilPaymentGrantExtension | undefined)?.consentId;
export const paymentConsentOf = (grant: Grant | undefined) => (grant?.extensions.brazilPayment as BrazilPaymentGrantExtension | undefined)?.consentId;

/**
 * The customer authorises a payment consent through the same PAR flow as a data consent: scope
 * `payments` with `consent:<id>`. At PAR the consent must be this client's and await authorisation;
 * at login the customer must be the consent's (CPF, and CNPJ for a business); approval authorises it
 * and ties the grant to it, so its tokens (refresh tokens too) end when it is consumed or rejected.
 */
export function paymentAuthorization(consents: PaymentConsents): EcosystemHooks {
  let ctx: GatewayContext;

  /** The request's payment consent while it still awaits this client's customer. */
  async function awaiting(request: AuthorizationRequest): Promise<PaymentConsent | undefined> {
    const id = consentIdOf(request);
    if (id === undefined) return undefined;
    const consent = await consents.get(id);
    return consent && consent.clientId === request.clientId && AWAITING.has(consent.status) ? consent : undefined;
  }

  return {
    start(context) {
      ctx = context;
    },

    async validateAuthorizationRequest({ request }) {
      const scopes = request.scope.split(' ');
      if (!scopes.includes('payments')) return;
      const consentScopes = scopes.filter((s) => CONSENT_SCOPE.test(s));
      if (consentScopes.length !== 1) throw new OAuthError('invalid_scope', 'a payment authorization needs exactly one consent:<consentId> scope');
      request.extensions.brazilPayment = { consentId: CONSENT_SCOPE.exec(consentScopes[0])![1] } satisfies BrazilPaymentGrantExtension;
      if (!(await awaiting(request))) throw invalidRequest('the payment consent is unknown, belongs to another client or is not awaiting authorisation');
    },

    async onLogin({ request, claims }) {
      if (consentIdOf(request) === undefined) return;
      const consent = await awaiting(request);
      if (!consent) throw new OAuthError('access_denied', 'the payment consent is no longer awaiting authorisation');
      const { loggedUser, businessEntity } = consent.request as { loggedUser?: { document?: { identification?: string } }; businessEntity?: { document?: { identification?: string } } };
      // Directory claims may be numbers (unquoted YAML): compared as text.
      const cnpjs = (Array.isArray(claims.cnpj) ? claims.cnpj : [claims.cnpj]).map(String);
      const cnpj = businessEntity?.document?.identification;
      if (String(claims.cpf) !== loggedUser?.document?.identification || (cnpj !== undefined && !cnpjs.includes(cnpj))) {
        await settle(consents.reject(consent.consentId, { code: 'REJEITADO_USUARIO', detail: 'the signed-in customer is not the one the consent was made for' }));
        throw new OAuthError('access_denied', 'the signed-in customer is not the one the payment consent was made for');
      }
    },

    async consentDetails({ request }) {
      const consent = await awaiting(request);
      if (!consent) return undefined;
      const { creditor, payment } = consent.request as { creditor: { name: string }; payment: { amount: string; currency: string; date?: string } };
      const amount = `${payment.currency} ${payment.amount}`;
      const real = `R$ ${payment.amount.replace('.', ',')}`;
      const when = payment.date ? { 'pt-BR': ` em ${payment.date.split('-').reverse().join('/')}`, en: ` on ${payment.date}` } : { 'pt-BR': ' (agendado)', en: ' (scheduled)' };
      return { items: [{ label: { 'pt-BR': `Pagamento Pix de ${real} para ${creditor.name}${when['pt-BR']}`, en: `Pix payment of ${amount} to ${creditor.name}${when.en}` } }] };
    },

    async onAuthorizationDenied({ request }) {
      const consent = await awaiting(request);
      if (consent) await settle(consents.reject(consent.consentId, { code: 'REJEITADO_USUARIO', detail: 'the customer refused the payment' }));
    },

    async onGrantCreated({ grant, request }) {
      const id = consentIdOf(request);
      if (id === undefined) return;
      if (!(await awaiting(request))) throw new OAuthError('access_denied', 'the payment consent is no longer awaiting authorisation');
      let authorised: PaymentConsent;
      try {
        authorised = await consents.authorise(id, { grantId: grant.id });
      } catch (err) {
        if (err instanceof OfbError) throw new OAuthError('access_denied', err.description);
        throw err;
      }
      grant.extensions.brazilPayment = { consentId: id } satisfies BrazilPaymentGrantExtension;
      // The grant, and every token of it, lasts as long as the consent can be consumed.
      const end = statusExpiresAt(authorised);
      if (end !== undefined) grant.expiresAt = Math.floor(end / 1000);
      grant.acr ??= ctx.users.acrReached(grant.sub, ctx.profile)[0] ?? 'urn:brasil:openbanking:loa2';
    },

    accessTokenClaims: (grant) => {
      const id = paymentConsentOf(grant);
      return id ? { consent_id: id } : {};
    },

    introspectionFields: (grant) => {
      const id = paymentConsentOf(grant);
      return id ? { consent_id: id } : {};
    },
  };
}

/** A change that another replica may have made first (409 while it holds the consent, 422 once done): the consent is settled either way. */
async function settle(change: Promise<unknown>): Promise<void> {
  try {
    await change;
  } catch (err) {
    if (!(err instanceof OfbError) || (err.status !== 409 && err.status !== 422)) throw err;
  }
}
