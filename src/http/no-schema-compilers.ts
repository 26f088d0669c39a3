import type { FastifyServerOptions } from 'fastify';

const refuse = () => () => {
  throw new Error('route schemas are not used: requests are checked by the handlers (src/http/form-body.ts, the endpoints)');
};

/**
 * Fastify options for listeners whose routes declare no JSON schemas (the gateway's all). Fastify
 * otherwise loads Ajv and fast-json-stringify for its default compilers (a few MB in every process)
 * although nothing would be compiled; a route that did declare a schema fails at start.
 */
export const noSchemaCompilers: Pick<FastifyServerOptions, 'schemaController'> = {
  schemaController: { compilersFactory: { buildValidator: refuse, buildSerializer: refuse } },
};
