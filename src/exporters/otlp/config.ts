import { z } from 'zod';
import { endpointSchema } from '../../config/endpoint.js';

/** Option names follow the OpenTelemetry Collector's otlp exporter, with units in the names. */
export const otlpExporterConfigSchema = z
  .strictObject({
    protocol: z
      .enum(['grpc', 'http/protobuf'])
      .default('grpc')
      .describe('OTLP transport to the downstream, as OTEL_EXPORTER_OTLP_PROTOCOL: grpc, or http/protobuf (POST <endpoint>/v1/traces and /v1/logs)'),
    endpoint: z
      .string()
      .min(1)
      .optional()
      .describe(
        'downstream: host:port with grpc (e.g. otel-collector:4317), a base URL http(s)://host:port[/prefix] with http/protobuf (e.g. http://otel-collector:4318); absent: nothing is forwarded',
      ),
    tls: z
      .strictObject({
        insecure: z
          .boolean()
          .default(false)
          .describe('plaintext gRPC (no TLS), e.g. to a Collector on localhost; with http/protobuf the URL scheme decides (http:// is plaintext)'),
        ca_file: z.string().min(1).optional().describe('CA (PEM) the server certificate must chain to (default: the system roots)'),
        cert_file: z.string().min(1).optional().describe('client certificate (PEM) for mTLS, with key_file'),
        key_file: z.string().min(1).optional().describe('client private key (PEM) for mTLS, with cert_file'),
        server_name_override: z.string().min(1).optional().describe('name expected in the server certificate, when it differs from the endpoint host'),
      })
      .prefault({})
      .refine((tls) => (tls.cert_file === undefined) === (tls.key_file === undefined), 'cert_file and key_file go together')
      .refine((tls) => !tls.insecure || (tls.ca_file ?? tls.cert_file) === undefined, 'insecure: true sends plaintext: drop ca_file, cert_file and key_file')
      .describe('TLS to the downstream (on by default with grpc, as in the Collector; https:// with http/protobuf); mTLS with cert_file and key_file'),
    headers: z.record(z.string().min(1), z.string()).default({}).describe('sent with every export as gRPC metadata or HTTP headers (e.g. a tenant id)'),
    auth: z
      .strictObject({
        bearer_token_file: z.string().min(1).describe('file holding the token sent as "authorization: Bearer <token>" (re-read at each start)'),
      })
      .optional()
      .describe('authenticate to the downstream with a bearer token (as the Collector\'s bearertokenauth extension)'),
    compression: z.enum(['gzip', 'none']).default('gzip').describe('compression of export requests'),
    timeout_ms: z.number().int().positive().default(5000).describe('deadline of one export request'),
    send_batch_size: z.number().int().positive().max(10_000).default(512).describe('spans (or verdict records) per export request, at most'),
    retry_on_failure: z
      .strictObject({
        initial_interval_ms: z.number().int().positive().default(5000).describe('wait after the first failed export'),
        max_interval_ms: z.number().int().positive().default(30_000).describe('longest wait between attempts (a longer RetryInfo delay from the server wins)'),
        multiplier: z.number().min(1).default(1.5).describe('growth of the wait after each failure'),
        randomization_factor: z.number().min(0).max(1).default(0.5).describe('each wait is spread by ± this fraction'),
      })
      .prefault({})
      .describe('retryable failures are retried without limit (the data waits in the store); INVALID_ARGUMENT (HTTP 400) is not retried'),
    forward_unmatched: z
      .boolean()
      .default(true)
      .describe('also forward spans of no workflow run (pending spans), so runledger can sit in front of an existing pipeline'),
    verdicts: z.boolean().default(false).describe('export each sealed run revision as one OTLP log record (event runledger.run.evaluated)'),
    max_backlog_age_minutes: z
      .number()
      .positive()
      .default(1440)
      .describe('spans and verdicts still unsent after this long are skipped (counted as expired); unsent pending spans are kept until then'),
    poll_interval_ms: z.number().int().positive().default(200).describe('how often the store is checked for new spans and verdicts when everything is sent'),
  })
  .prefault({})
  // Runs even when other keys failed, so one `config check` reports every problem.
  .check(z.superRefine(checkEndpoint, { when: () => true }))
  .describe('forward stored spans (enriched, redacted) and verdicts to a downstream OTLP endpoint (gRPC or HTTP)');

export const exportersConfigSchema = z.strictObject({ otlp: otlpExporterConfigSchema }).prefault({});

export type OtlpExporterConfig = z.infer<typeof otlpExporterConfigSchema>;

const URL_SCHEME = /^[a-z][a-z0-9+.-]*:\/\//i;

interface EndpointKeys {
  readonly endpoint?: unknown;
  readonly protocol?: unknown;
  readonly tls?: Readonly<Partial<Record<'insecure' | 'ca_file' | 'cert_file' | 'key_file' | 'server_name_override', unknown>>>;
}

/**
 * The endpoint in the shape its protocol wants, and TLS options that mean something with it. Also
 * called when other keys failed: only values that passed their own schema are looked at.
 */
function checkEndpoint(config: EndpointKeys, ctx: z.RefinementCtx): void {
  const { endpoint, protocol, tls } = config;
  if (typeof endpoint !== 'string' || (protocol !== 'grpc' && protocol !== 'http/protobuf')) return;
  const problem = (path: string[], message: string) => ctx.addIssue({ code: 'custom', path, message, input: endpoint });
  if (protocol === 'grpc') {
    if (URL_SCHEME.test(endpoint)) return problem(['endpoint'], 'is a URL: with protocol grpc it is host:port (e.g. otel-collector:4317); for OTLP/HTTP set protocol: http/protobuf');
    const result = endpointSchema.safeParse(endpoint);
    for (const issue of result.error?.issues ?? []) problem(['endpoint'], issue.message);
    return;
  }
  const url = URL.canParse(endpoint) ? new URL(endpoint) : undefined;
  if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:') || url.host === '') {
    return problem(['endpoint'], 'with protocol http/protobuf it is a base URL http(s)://host:port[/prefix], e.g. http://otel-collector:4318 (exports go to <endpoint>/v1/traces and /v1/logs)');
  }
  if (url.search !== '' || url.hash !== '' || url.username !== '' || url.password !== '') {
    return problem(['endpoint'], 'must not hold a query, fragment or credentials (send credentials with auth.bearer_token_file or headers)');
  }
  if (typeof tls !== 'object') return;
  if (url.protocol === 'https:' && tls.insecure === true) {
    problem(['tls', 'insecure'], 'with protocol http/protobuf the URL scheme decides: https:// is TLS; use http:// for plaintext');
  }
  const tlsKeys = (['ca_file', 'cert_file', 'key_file', 'server_name_override'] as const).filter((key) => tls[key] !== undefined);
  if (url.protocol === 'http:' && tlsKeys.length > 0) {
    problem(['tls'], `an http:// endpoint is plaintext: use https:// or drop ${tlsKeys.join(', ')}`);
  }
}
