import swagger from '@fastify/swagger';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyInstance,
  LogController,
} from 'fastify';
import type { Logger } from 'pino';
import type { CampaignReader } from '../campaigns/cache.ts';
import type { CampaignService } from '../campaigns/service.ts';
import { NotFoundError } from '../campaigns/service.ts';
import { isRetriable, ValidationError } from '../lib/errors.ts';
import type { SelectionAdmin } from '../selection/admin.ts';
import { registerAdminRoutes } from './admin.ts';
import { AuthError, TokenVerifier } from './auth.ts';
import { type EntryTable, registerRegistrationRoutes } from './registration.ts';
import { registerSelectionRoutes } from './selection.ts';

// The HTTP API's composition root: fastify with strict request validation, one error handler that
// turns every kind of bad input into a 4xx naming the field, the registration and admin routes,
// and the OpenAPI document at /openapi.json.

export const BODY_LIMIT = 16 * 1024;

export interface ApiDeps {
  campaigns: CampaignReader;
  entries: EntryTable;
  service: CampaignService;
  jwtSecret: string;
  logger: Logger;
  /** Selection's admin routes (code pools, run stats, the trigger); absent in tests of other routes. */
  selection?: SelectionAdmin;
}

export async function buildServer(deps: ApiDeps): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    // No log line per request (the error handler logs 5xx). Through a LogController: the
    // top-level `disableRequestLogging` option is deprecated in fastify 5 (FSTDEP023 at start).
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: BODY_LIMIT,
    // No type coercion and no silent removal: a number where a string belongs is a 400, not "123".
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false } },
    return503OnClosing: true,
  });
  const tokens = new TokenVerifier(deps.jwtSecret);

  app.addContentTypeParser(['text/plain', 'text/csv'], { parseAs: 'string' }, (_req, body, done) =>
    done(null, body),
  );
  app.setErrorHandler((err: FastifyError, request, reply) => {
    const answer = toHttpError(err);
    if (answer.status >= 500)
      request.log.error({ err, route: request.routeOptions.url, method: request.method }, 'request failed');
    if (answer.status === 503) void reply.header('retry-after', '1');
    return reply.code(answer.status).send(answer.body);
  });
  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send({
      error: 'NOT_FOUND',
      field: 'path',
      message: `no route ${request.method} ${request.url.slice(0, 200)}`,
    }),
  );

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'regflow registration and admin API',
        version: '1.0.0',
        description:
          'Fans register for presale campaigns (token subject = globalUserId); campaign managers (role admin) manage campaigns.',
      },
      components: {
        securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT (HS256)' } },
      },
    },
  });

  registerRegistrationRoutes(app, { campaigns: deps.campaigns, entries: deps.entries, tokens });
  registerAdminRoutes(app, { service: deps.service, tokens });
  if (deps.selection) registerSelectionRoutes(app, { selection: deps.selection, tokens });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  app.get('/healthz', { schema: { hide: true } }, async () => ({ ok: true }));
  return app;
}

interface HttpError {
  status: number;
  body: { error: string; field?: string; message: string };
}

function toHttpError(err: FastifyError): HttpError {
  if (err instanceof AuthError)
    return {
      status: err.status,
      body: {
        error: err.status === 401 ? 'UNAUTHORIZED' : 'FORBIDDEN',
        field: 'Authorization',
        message: err.message,
      },
    };
  if (err.validation && err.validation.length > 0) {
    const v = err.validation[0]!;
    const params = v.params as Record<string, unknown>;
    let field = v.instancePath
      .replace(/^\//, '')
      .replace(/\/(\d+)(?=\/|$)/g, '[$1]')
      .replace(/\//g, '.');
    const extra = params.missingProperty ?? params.additionalProperty;
    if (typeof extra === 'string') field = field ? `${field}.${extra}` : extra;
    const context = err.validationContext ?? 'body';
    const message = params.additionalProperty !== undefined ? 'unknown field' : (v.message ?? 'invalid');
    return {
      status: 400,
      body: {
        error: 'BAD_REQUEST',
        field: field || context,
        message: `${context}${field ? ` ${field}` : ''}: ${message}`,
      },
    };
  }
  if (err instanceof NotFoundError)
    return { status: 404, body: { error: 'CAMPAIGN_NOT_FOUND', field: err.field, message: err.message } };
  if (err instanceof ValidationError)
    return { status: 400, body: { error: 'BAD_REQUEST', field: err.field, message: err.message } };
  if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE')
    return { status: 400, body: { error: 'BAD_REQUEST', field: 'body', message: 'body too large' } };
  if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE')
    return {
      status: 415,
      body: { error: 'UNSUPPORTED_MEDIA_TYPE', field: 'content-type', message: 'send application/json' },
    };
  const status = typeof err.statusCode === 'number' ? err.statusCode : 500;
  if (status >= 400 && status < 500)
    return { status: 400, body: { error: 'BAD_REQUEST', field: 'body', message: err.message.slice(0, 200) } };
  if (isRetriable(err))
    return {
      status: 503,
      body: { error: 'UNAVAILABLE', message: 'a backing service is unavailable; retry' },
    };
  return { status: 500, body: { error: 'INTERNAL', message: 'internal error' } };
}
