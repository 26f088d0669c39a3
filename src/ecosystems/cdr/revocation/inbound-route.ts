import type { FastifyInstance } from 'fastify';
import { authenticateClient, ClientAuthError } from '../../../clients/authenticate.js';
import type { GatewayContext } from '../../../context.js';
import { listenerEndpointUrl } from '../../../dpop/htu.js';
import { methodNotAllowed } from '../../../http/error-handler.js';
import { formParams } from '../../../http/form-body.js';
import { usableCertificate } from '../../../tls/peer-certificate.js';
import type { Arrangements } from '../arrangements/arrangements.js';
import { INVALID_ARRANGEMENT, sendCdsError } from '../errors.js';
import type { CdrMetrics } from '../metrics.js';

export const REVOCATION_PATH = '/arrangements/revoke';

/**
 * CDR Arrangement Revocation (inbound, CDS "Data Holder" endpoint): a recipient ends one of its own
 * arrangements. mTLS and private_key_jwt; form parameter `cdr_arrangement_id`; 204 once every token
 * of the arrangement is refused on every replica; 422 InvalidArrangement for an unknown, ended or
 * other client's arrangement (which look the same, so that ids of others cannot be probed).
 */
export function arrangementRevocationRoute(app: FastifyInstance, ctx: GatewayContext, arrangements: Arrangements, metrics: CdrMetrics | undefined): void {
  app.post(REVOCATION_PATH, async (request, reply) => {
    const params = formParams(request);
    if (!usableCertificate(ctx.peerCertificate(request.raw))) throw new ClientAuthError('no_certificate', 'a client certificate is required (mutual TLS)');
    const { client } = await authenticateClient(request, params, listenerEndpointUrl(request, REVOCATION_PATH, ctx.urls.mtlsBase + REVOCATION_PATH), ctx);
    request.clientId = client.id;
    const id = params.cdr_arrangement_id;
    const invalid = () => {
      metrics?.revocations.inc({ initiator: 'recipient', outcome: 'invalid_arrangement' });
      return sendCdsError(reply, 422, INVALID_ARRANGEMENT, 'Invalid Consent Arrangement', 'cdr_arrangement_id is not a current arrangement of this client');
    };
    if (id === undefined || id.length === 0 || id.length > 256) return invalid();
    const arrangement = await arrangements.current(id);
    if (!arrangement || arrangement.clientId !== client.id) return invalid();
    if (!(await arrangements.end(id, 'recipient'))) return invalid();
    metrics?.revocations.inc({ initiator: 'recipient', outcome: 'revoked' });
    request.log.info({ audit: 'arrangement_revoked', initiator: 'recipient', clientId: client.id, arrangementId: id }, 'arrangement_revoked');
    return reply.code(204).header('cache-control', 'no-store').send();
  });
  methodNotAllowed(app, REVOCATION_PATH, ['POST']);
}
