import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, posix, relative, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';

/**
 * Shape checks for the deployment examples in deploy/: Kubernetes manifests, Collector configs, Prometheus
 * rules and the Grafana dashboard. Embedded runledger configs go through the real `runledger config check`
 * (dist/ is built by `npm test`'s pretest).
 */

const ROOT = resolve(import.meta.dirname, '..');
const DEPLOY = join(ROOT, 'deploy');
const MAIN = join(ROOT, 'dist/main.js');
const RUNLEDGER_IMAGE = 'ghcr.io/runledger/runledger:';

// ---------------------------------------------------------------------------------------------------
// Minimal shapes of what the files hold (only the fields the checks read).

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { fieldRef?: { fieldPath: string } };
}
interface Probe {
  httpGet?: { path: string; port: number | string };
}
interface SecurityContext {
  runAsNonRoot?: boolean;
  runAsUser?: number;
  readOnlyRootFilesystem?: boolean;
  allowPrivilegeEscalation?: boolean;
  capabilities?: { drop?: string[] };
  seccompProfile?: { type: string };
}
interface VolumeMount {
  name: string;
  mountPath: string;
  readOnly?: boolean;
}
interface Container {
  name: string;
  image: string;
  args?: string[];
  restartPolicy?: string;
  ports?: Array<{ name?: string; containerPort: number }>;
  env?: EnvVar[];
  volumeMounts?: VolumeMount[];
  startupProbe?: Probe;
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: SecurityContext;
}
interface Volume {
  name: string;
  configMap?: { name: string };
  persistentVolumeClaim?: { claimName: string };
  emptyDir?: Record<string, unknown>;
}
interface PodSpec {
  containers: Container[];
  initContainers?: Container[];
  volumes?: Volume[];
  securityContext?: SecurityContext & { fsGroup?: number };
  terminationGracePeriodSeconds?: number;
  serviceAccountName?: string;
}
interface PodTemplate {
  metadata: { labels?: Record<string, string>; annotations?: Record<string, string> };
  spec: PodSpec;
}
interface WorkloadSpec {
  replicas?: number;
  selector: { matchLabels: Record<string, string> };
  template: PodTemplate;
  serviceName?: string;
  volumeClaimTemplates?: Array<{ metadata: { name: string } }>;
}
interface ServiceSpec {
  clusterIP?: string;
  selector?: Record<string, string>;
  ports: Array<{ name?: string; port: number }>;
}
interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
  data?: Record<string, string>;
  spec?: unknown;
}
interface RunledgerConfigFile {
  receiver?: { otlp_grpc?: { endpoint?: string }; otlp_http?: { endpoint?: string } };
  http?: { endpoint?: string };
  storage?: { sqlite?: { path?: string } };
  exporters?: { otlp?: { endpoint?: string; verdicts?: boolean; tls?: { insecure?: boolean } } };
}
interface CollectorConfig {
  extensions?: Record<string, unknown>;
  receivers: Record<string, { protocols?: { grpc?: { endpoint?: string }; http?: { endpoint?: string } } } | null>;
  processors?: Record<string, unknown>;
  exporters: Record<string, Record<string, unknown> | null>;
  service: {
    extensions?: string[];
    pipelines: Record<string, { receivers: string[]; processors?: string[]; exporters: string[] }>;
  };
}
interface AlertRule {
  alert?: string;
  record?: string;
  expr: unknown;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
interface RuleFile {
  groups: Array<{ name: string; rules: AlertRule[] }>;
}
interface Panel {
  id: number;
  type: string;
  title: string;
  datasource?: { type?: string; uid?: string };
  targets?: Array<{ expr?: string; refId: string }>;
  panels?: Panel[];
}
interface TemplateVariable {
  name: string;
  type: string;
  query?: string | { query?: string };
  definition?: string;
}
interface Dashboard {
  uid: string;
  title: string;
  schemaVersion: number;
  templating: { list: TemplateVariable[] };
  panels: Panel[];
}

// ---------------------------------------------------------------------------------------------------
// Loading.

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((entry) => (entry.isDirectory() ? filesUnder(join(dir, entry.name)) : [join(dir, entry.name)]))
    .sort();
}

const DEPLOY_FILES = filesUnder(DEPLOY);
const YAML_FILES = DEPLOY_FILES.filter((f) => /\.ya?ml$/.test(f));

/** Every document of a YAML file, failing on any parse error or warning (duplicate keys included). */
function yamlDocuments(file: string): unknown[] {
  const docs = parseAllDocuments(readFileSync(file, 'utf8'), { prettyErrors: true, uniqueKeys: true });
  if (!Array.isArray(docs)) throw new Error(`${file}: not a YAML stream`);
  const problems = docs.flatMap((doc) => [...doc.errors, ...doc.warnings].map((e) => e.message));
  if (problems.length > 0) throw new Error(`${relative(ROOT, file)}:\n${problems.join('\n')}`);
  return docs.map((doc) => doc.toJS() as unknown).filter((value) => value !== null && value !== undefined);
}

function yamlFile<T>(path: string): T {
  const docs = yamlDocuments(join(DEPLOY, path));
  expect(docs, `${path} holds one document`).toHaveLength(1);
  return docs[0] as T;
}

function k8sObjects(path: string): K8sObject[] {
  return yamlDocuments(join(DEPLOY, path)) as K8sObject[];
}

function only<T extends K8sObject>(objects: K8sObject[], kind: string, name?: string): T {
  const found = objects.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  expect(found.map((o) => `${o.kind}/${o.metadata.name}`), `one ${kind}${name ? `/${name}` : ''}`).toHaveLength(1);
  return found[0] as T;
}

/** RUNLEDGER_* defaults baked into the image: environment variables override the config file. */
function imageEnvDefaults(): Record<string, string> {
  const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
  const defaults: Record<string, string> = {};
  for (const match of dockerfile.matchAll(/\b(RUNLEDGER_[A-Z_]+)=(\S+)/g)) defaults[match[1]!] = match[2]!;
  return defaults;
}
const IMAGE_ENV = imageEnvDefaults();

// ---------------------------------------------------------------------------------------------------
// Pods and runledger containers.

function allContainers(pod: PodSpec): Container[] {
  return [...(pod.initContainers ?? []), ...pod.containers];
}

function runledgerContainer(pod: PodSpec): Container {
  const found = allContainers(pod).filter((c) => c.image.startsWith(RUNLEDGER_IMAGE));
  expect(found.map((c) => c.name), 'one runledger container in the pod').toHaveLength(1);
  return found[0]!;
}

/** The container's environment as runledger sees it: the image's defaults, then the manifest's values. */
function effectiveEnv(container: Container): Record<string, string> {
  const env: Record<string, string> = { ...IMAGE_ENV };
  for (const v of container.env ?? []) if (v.value !== undefined) env[v.name] = v.value;
  return env;
}

function envVar(container: Container, name: string): EnvVar | undefined {
  return container.env?.find((v) => v.name === name);
}

/** The runledger config file the container reads: RUNLEDGER_CONFIG inside a mounted ConfigMap. */
function mountedConfig(pod: PodSpec, container: Container, objects: K8sObject[]) {
  const path = effectiveEnv(container).RUNLEDGER_CONFIG;
  expect(path, 'RUNLEDGER_CONFIG').toBeDefined();
  const mount = container.volumeMounts?.find((m) => m.mountPath === posix.dirname(path!));
  expect(mount, `a volume mounted at ${posix.dirname(path!)}`).toBeDefined();
  const volume = pod.volumes?.find((v) => v.name === mount!.name);
  expect(volume?.configMap, `volume ${mount!.name} is a ConfigMap`).toBeDefined();
  const configMap = only(objects, 'ConfigMap', volume!.configMap!.name);
  const text = configMap.data?.[posix.basename(path!)];
  expect(text, `ConfigMap ${configMap.metadata.name} has key ${posix.basename(path!)}`).toBeTypeOf('string');
  return { configMap, key: posix.basename(path!), text: text!, parsed: parse(text!) as RunledgerConfigFile };
}

/** The listen addresses and db path in force: an environment override wins over the file. */
function effectiveSettings(container: Container, file: RunledgerConfigFile) {
  const env = effectiveEnv(container);
  return {
    grpc: env.RUNLEDGER_OTLP_GRPC_ENDPOINT || file.receiver?.otlp_grpc?.endpoint || 'localhost:4317',
    otlpHttp: env.RUNLEDGER_OTLP_HTTP_ENDPOINT || file.receiver?.otlp_http?.endpoint || 'localhost:4318',
    http: env.RUNLEDGER_HTTP_ENDPOINT || file.http?.endpoint || 'localhost:4320',
    dbPath: env.RUNLEDGER_DB_PATH || file.storage?.sqlite?.path || './data/runledger.db',
  };
}

function hostPort(endpoint: string): { host: string; port: number } {
  const colon = endpoint.lastIndexOf(':');
  return { host: endpoint.slice(0, colon), port: Number(endpoint.slice(colon + 1)) };
}

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);
const ALL_INTERFACES = new Set(['0.0.0.0', '', '[::]']);

function containerPorts(container: Container): number[] {
  return (container.ports ?? []).map((p) => p.containerPort).sort((a, b) => a - b);
}

function securityOf(pod: PodSpec, container: Container): SecurityContext {
  return { ...pod.securityContext, ...container.securityContext };
}

// ---------------------------------------------------------------------------------------------------
// `runledger config check`, for real.

const tmp = mkdtempSync(join(tmpdir(), 'runledger-deploy-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Runs `node dist/main.js config check --config FILE`; execFileSync throws (with stderr) on a non-zero exit. */
function configCheck(name: string, text: string, overrides: Record<string, string> = {}): string {
  const file = join(tmp, `${name}.yaml`);
  writeFileSync(file, text);
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('RUNLEDGER_')));
  return execFileSync(process.execPath, [MAIN, 'config', 'check', '--config', file], {
    env: { ...env, ...overrides },
    encoding: 'utf8',
    timeout: 15_000,
  });
}

/** The RUNLEDGER_* overrides a container sets (RUNLEDGER_CONFIG aside: --config names the file). */
function containerOverrides(container: Container): Record<string, string> {
  return Object.fromEntries(
    Object.entries(effectiveEnv(container)).filter(([k]) => k.startsWith('RUNLEDGER_') && k !== 'RUNLEDGER_CONFIG'),
  );
}

// ---------------------------------------------------------------------------------------------------
// PromQL: the metric names an expression selects (not functions, keywords, labels, strings or ranges).

const PROMQL_KEYWORDS = new Set(['and', 'or', 'unless', 'bool', 'offset', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'inf', 'nan']);

function metricNames(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const names = new Set<string>();
  for (const match of stripped.matchAll(/(?<![\w.:$])([A-Za-z_:][\w:]*)(?![\w:])(?!\s*\()/g)) {
    if (!PROMQL_KEYWORDS.has(match[1]!.toLowerCase())) names.add(match[1]!);
  }
  return [...names].sort();
}

const RUNLEDGER_METRICS = new Set([
  'runledger_spans_received_total',
  'runledger_spans_rejected_total',
  'runledger_spans_dropped_total',
  'runledger_runs_evaluated_total',
  'runledger_findings_total',
  'runledger_runs_open',
  'runledger_ingest_duration_seconds_bucket',
  'runledger_ingest_duration_seconds_sum',
  'runledger_ingest_duration_seconds_count',
  'runledger_store_bytes',
  'runledger_compliance_ratio',
  'runledger_runs_capped_total',
  'runledger_forward_lag_seconds',
]);

// ===================================================================================================

describe('deploy/: every file parses', () => {
  it('finds the expected files', () => {
    const names = DEPLOY_FILES.map((f) => relative(DEPLOY, f).split('\\').join('/'));
    expect(names).toEqual(
      expect.arrayContaining([
        'kubernetes/sidecar.yaml',
        'kubernetes/gateway.yaml',
        'collector/otelcol-gateway.yaml',
        'collector/otelcol-single.yaml',
        'collector/otelcol-downstream.yaml',
        'prometheus/alerts.yaml',
        'grafana/runledger-dashboard.json',
      ]),
    );
  });

  it.each(YAML_FILES.map((f) => [relative(DEPLOY, f), f]))('%s: YAML without errors or duplicate keys', (_name, file) => {
    expect(yamlDocuments(file).length).toBeGreaterThan(0);
  });

  it.each(['kubernetes/sidecar.yaml', 'kubernetes/gateway.yaml'])('%s: every document is a Kubernetes object', (path) => {
    for (const object of k8sObjects(path)) {
      expect(object.apiVersion, path).toMatch(/^([a-z0-9.-]+\/)?v\d+((alpha|beta)\d+)?$/);
      expect(object.kind, path).toMatch(/^[A-Z]\w+$/);
      expect(object.metadata?.name, `${path}: ${object.kind}`).toMatch(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/);
    }
  });
});

describe('deploy/kubernetes/sidecar.yaml', () => {
  const objects = k8sObjects('kubernetes/sidecar.yaml');
  const deployment = only<K8sObject & { spec: WorkloadSpec }>(objects, 'Deployment');
  const template = deployment.spec.template;
  const pod = template.spec;
  const runledger = runledgerContainer(pod);
  const config = mountedConfig(pod, runledger, objects);
  const settings = effectiveSettings(runledger, config.parsed);

  it('runs the runledger image with `serve`, beside the workflow engine', () => {
    expect(runledger.args).toEqual(['serve']);
    const others = allContainers(pod).filter((c) => c !== runledger);
    expect(others.length).toBeGreaterThan(0);
    // The engine exports OTLP/gRPC to runledger over the pod's loopback.
    const endpoints = others.map((c) => envVar(c, 'OTEL_EXPORTER_OTLP_ENDPOINT')?.value);
    expect(endpoints).toContain('http://localhost:4317');
    // An init container that is not a restartable (native) sidecar would block the pod forever.
    if (pod.initContainers?.includes(runledger)) expect(runledger.restartPolicy).toBe('Always');
    expect(template.metadata.labels).toEqual(expect.objectContaining(deployment.spec.selector.matchLabels));
  });

  it('exposes OTLP/gRPC 4317, OTLP/HTTP 4318 and HTTP 4320', () => {
    expect(containerPorts(runledger)).toEqual([4317, 4318, 4320]);
    expect(runledger.ports?.find((p) => p.containerPort === 4317)?.name).toBe('otlp-grpc');
    expect(runledger.ports?.find((p) => p.containerPort === 4318)?.name).toBe('otlp-http');
    expect(runledger.ports?.find((p) => p.containerPort === 4320)?.name).toBe('http');
  });

  it('probes /healthz (liveness) and /readyz (readiness) on port 4320', () => {
    expect(runledger.livenessProbe?.httpGet).toEqual({ path: '/healthz', port: 4320 });
    expect(runledger.readinessProbe?.httpGet).toEqual({ path: '/readyz', port: 4320 });
  });

  it('gets the pod identity from the downward API', () => {
    const fieldPaths = Object.fromEntries(
      (runledger.env ?? []).filter((v) => v.name.startsWith('K8S_')).map((v) => [v.name, v.valueFrom?.fieldRef?.fieldPath]),
    );
    expect(fieldPaths).toEqual({
      K8S_POD_NAME: 'metadata.name',
      K8S_POD_UID: 'metadata.uid',
      K8S_NAMESPACE: 'metadata.namespace',
      K8S_NODE_NAME: 'spec.nodeName',
      K8S_SERVICE_ACCOUNT: 'spec.serviceAccountName',
    });
  });

  it('listens for OTLP on loopback only, and for HTTP on the pod IP where the kubelet probes', () => {
    expect(LOOPBACK.has(hostPort(settings.grpc).host), `effective receiver endpoint ${settings.grpc}`).toBe(true);
    expect(hostPort(settings.grpc).port).toBe(4317);
    expect(config.parsed.receiver?.otlp_grpc?.endpoint).toBe('localhost:4317');
    expect(LOOPBACK.has(hostPort(settings.otlpHttp).host), `effective OTLP/HTTP endpoint ${settings.otlpHttp}`).toBe(true);
    expect(hostPort(settings.otlpHttp).port).toBe(4318);
    expect(ALL_INTERFACES.has(hostPort(settings.http).host), `effective http endpoint ${settings.http}`).toBe(true);
    expect(hostPort(settings.http).port).toBe(4320);
  });

  it('keeps the database on a writable volume', () => {
    expect(posix.isAbsolute(settings.dbPath), settings.dbPath).toBe(true);
    const dir = posix.dirname(settings.dbPath);
    const mount = runledger.volumeMounts?.find((m) => dir === m.mountPath || dir.startsWith(`${m.mountPath}/`));
    expect(mount, `a volume mounted over ${dir}`).toBeDefined();
    expect(mount!.readOnly ?? false).toBe(false);
    const volume = pod.volumes?.find((v) => v.name === mount!.name);
    expect(volume?.persistentVolumeClaim ?? volume?.emptyDir, `volume ${mount!.name}`).toBeDefined();
    if (volume?.persistentVolumeClaim) only(objects, 'PersistentVolumeClaim', volume.persistentVolumeClaim.claimName);
  });

  it('sets resource requests and limits', () => {
    expect(runledger.resources?.requests).toEqual(expect.objectContaining({ cpu: expect.any(String), memory: expect.any(String) }));
    expect(runledger.resources?.limits).toEqual(expect.objectContaining({ cpu: expect.any(String), memory: expect.any(String) }));
  });

  it('runs as the non-root node user on a read-only root filesystem, without privileges', () => {
    const security = securityOf(pod, runledger);
    expect(security.runAsNonRoot).toBe(true);
    expect(security.runAsUser).toBe(1000);
    expect(security.readOnlyRootFilesystem).toBe(true);
    expect(security.allowPrivilegeEscalation).toBe(false);
    expect(security.capabilities?.drop).toContain('ALL');
    expect(security.seccompProfile?.type).toBe('RuntimeDefault');
    // With a read-only root, temporary files need a volume.
    expect(runledger.volumeMounts?.map((m) => m.mountPath)).toContain('/tmp');
  });

  it('gives runledger time to shut down and tells Prometheus where to scrape', () => {
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(30);
    expect(template.metadata.annotations).toEqual(
      expect.objectContaining({ 'prometheus.io/scrape': 'true', 'prometheus.io/port': '4320', 'prometheus.io/path': '/metrics' }),
    );
  });
});

describe('deploy/kubernetes/gateway.yaml', () => {
  const objects = k8sObjects('kubernetes/gateway.yaml');
  const statefulSet = only<K8sObject & { spec: WorkloadSpec }>(objects, 'StatefulSet');
  const pod = statefulSet.spec.template.spec;
  const runledger = runledgerContainer(pod);
  const config = mountedConfig(pod, runledger, objects);
  const settings = effectiveSettings(runledger, config.parsed);

  it('runs 3 replicas, each with its own volume for the database', () => {
    expect(statefulSet.spec.replicas).toBe(3);
    expect(runledger.args).toEqual(['serve']);
    const claims = (statefulSet.spec.volumeClaimTemplates ?? []).map((t) => t.metadata.name);
    const dir = posix.dirname(settings.dbPath);
    const mount = runledger.volumeMounts?.find((m) => dir === m.mountPath || dir.startsWith(`${m.mountPath}/`));
    expect(mount, `a volume mounted over ${dir}`).toBeDefined();
    expect(claims).toContain(mount!.name);
    expect(pod.securityContext?.fsGroup).toBe(1000);
  });

  it('sits behind a headless Service that selects its pods', () => {
    const service = only<K8sObject & { spec: ServiceSpec }>(objects, 'Service', statefulSet.spec.serviceName);
    expect(service.spec.clusterIP).toBe('None');
    expect(statefulSet.spec.template.metadata.labels).toEqual(expect.objectContaining(service.spec.selector));
    expect(service.spec.ports.map((p) => p.port)).toEqual(expect.arrayContaining([4317, 4318]));
  });

  it('listens on all interfaces, probes and secures like the sidecar', () => {
    expect(hostPort(settings.grpc)).toEqual({ host: '0.0.0.0', port: 4317 });
    expect(config.parsed.receiver?.otlp_grpc?.endpoint).toBe('0.0.0.0:4317');
    expect(hostPort(settings.otlpHttp)).toEqual({ host: '0.0.0.0', port: 4318 });
    expect(ALL_INTERFACES.has(hostPort(settings.http).host)).toBe(true);
    expect(containerPorts(runledger)).toEqual([4317, 4318, 4320]);
    expect(runledger.livenessProbe?.httpGet).toEqual({ path: '/healthz', port: 4320 });
    expect(runledger.readinessProbe?.httpGet).toEqual({ path: '/readyz', port: 4320 });
    expect(runledger.resources?.requests).toBeDefined();
    expect(runledger.resources?.limits).toBeDefined();
    const security = securityOf(pod, runledger);
    expect(security).toEqual(expect.objectContaining({ runAsNonRoot: true, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false }));
  });
});

describe('embedded runledger configs pass `runledger config check`', () => {
  const cases = ['kubernetes/sidecar.yaml', 'kubernetes/gateway.yaml'].flatMap((path) => {
    const objects = k8sObjects(path);
    return objects
      .filter((o) => o.kind === 'Deployment' || o.kind === 'StatefulSet')
      .map((workload) => {
        const pod = (workload.spec as WorkloadSpec).template.spec;
        const container = runledgerContainer(pod);
        return [`${path} ${workload.kind}/${workload.metadata.name}`, container, mountedConfig(pod, container, objects)] as const;
      });
  });

  it('finds one per workload', () => {
    expect(cases.length).toBe(2);
  });

  it.each(cases)('%s', (name, container, config) => {
    const slug = name.replace(/[^a-z0-9]+/gi, '-');
    expect(configCheck(slug, config.text)).toContain('configuration is valid');
    // And as the container runs it, with its environment overrides.
    expect(configCheck(`${slug}-env`, config.text, containerOverrides(container))).toContain('configuration is valid');
    // The image's environment overrides the file: an override that contradicts it makes the ConfigMap lie.
    const inFile = {
      grpc: config.parsed.receiver?.otlp_grpc?.endpoint,
      http: config.parsed.http?.endpoint,
      dbPath: config.parsed.storage?.sqlite?.path,
    };
    const inForce = effectiveSettings(container, config.parsed);
    for (const key of ['grpc', 'http', 'dbPath'] as const) {
      if (inFile[key] !== undefined) expect(inForce[key], `${key} in force`).toBe(inFile[key]);
    }
  });

  it('every ConfigMap key holding a runledger config is mounted by a workload', () => {
    const mounted = new Set(cases.map(([, , c]) => `${c.configMap.metadata.name}/${c.key}`));
    for (const path of ['kubernetes/sidecar.yaml', 'kubernetes/gateway.yaml']) {
      for (const cm of k8sObjects(path).filter((o) => o.kind === 'ConfigMap')) {
        for (const key of Object.keys(cm.data ?? {}).filter((k) => k.endsWith('runledger.yaml'))) {
          expect(mounted).toContain(`${cm.metadata.name}/${key}`);
        }
      }
    }
  });
});

describe('deploy/collector', () => {
  const gateway = yamlFile<CollectorConfig>('collector/otelcol-gateway.yaml');
  const single = yamlFile<CollectorConfig>('collector/otelcol-single.yaml');
  const k8s = k8sObjects('kubernetes/gateway.yaml');
  const statefulSet = only<K8sObject & { spec: WorkloadSpec }>(k8s, 'StatefulSet');
  const headless = `${statefulSet.spec.serviceName}.${statefulSet.metadata.namespace}`;

  it.each([
    ['otelcol-gateway.yaml', gateway],
    ['otelcol-single.yaml', single],
  ])('%s: every pipeline component is defined, and OTLP/gRPC is received on all interfaces', (_name, config) => {
    for (const [pipeline, { receivers, processors = [], exporters }] of Object.entries(config.service.pipelines)) {
      for (const r of receivers) expect(Object.keys(config.receivers), `${pipeline} receiver`).toContain(r);
      for (const p of processors) expect(Object.keys(config.processors ?? {}), `${pipeline} processor`).toContain(p);
      for (const e of exporters) expect(Object.keys(config.exporters), `${pipeline} exporter`).toContain(e);
    }
    for (const e of config.service.extensions ?? []) expect(Object.keys(config.extensions ?? {})).toContain(e);
    expect(config.receivers.otlp?.protocols?.grpc?.endpoint).toBe('0.0.0.0:4317');
  });

  it('gateway: routes by trace id to the replicas behind the headless Service', () => {
    const lb = gateway.exporters.loadbalancing as {
      routing_key?: string;
      protocol?: { otlp?: { endpoint?: string; tls?: { insecure?: boolean } } };
      resolver?: { dns?: { hostname?: string; port?: number }; k8s?: { service?: string; ports?: number[] } };
    };
    expect(lb.routing_key).toBe('traceID');
    expect(lb.protocol?.otlp).toBeDefined();
    // The loadbalancing exporter fills in each backend's endpoint itself.
    expect(lb.protocol?.otlp?.endpoint).toBeUndefined();
    expect(lb.resolver?.dns ?? lb.resolver?.k8s, 'a resolver').toBeDefined();
    if (lb.resolver?.dns) {
      expect(lb.resolver.dns.hostname).toMatch(new RegExp(`^${headless.replace(/\./g, '\\.')}(\\.svc(\\.cluster\\.local)?)?$`));
      expect(lb.resolver.dns.port ?? 4317).toBe(4317);
    } else {
      expect(lb.resolver?.k8s?.service).toBe(headless);
    }
    expect(gateway.service.pipelines.traces?.exporters).toEqual(['loadbalancing']);
  });

  it('single: a plain otlp exporter to one runledger', () => {
    const otlp = single.exporters.otlp as { endpoint?: string };
    expect(otlp.endpoint).toMatch(new RegExp(`(^|\\.)${headless.replace(/\./g, '\\.')}\\.svc(\\.cluster\\.local)?:4317$`));
    expect(single.service.pipelines.traces?.exporters).toEqual(['otlp']);
  });
});

describe('forwarding to a Collector (exporters.otlp)', () => {
  const downstream = yamlFile<CollectorConfig>('collector/otelcol-downstream.yaml');
  const forwarders = ['kubernetes/sidecar.yaml', 'kubernetes/gateway.yaml'].map((path) => {
    const objects = k8sObjects(path);
    const workload = objects.find((o) => o.kind === 'Deployment' || o.kind === 'StatefulSet')!;
    const pod = (workload.spec as WorkloadSpec).template.spec;
    return [path, mountedConfig(pod, runledgerContainer(pod), objects).parsed] as const;
  });

  it.each(forwarders)('%s: forwards spans and verdicts to the downstream Collector on 4317', (_path, config) => {
    const otlp = config.exporters?.otlp;
    expect(otlp?.endpoint).toBe('otel-collector.observability.svc.cluster.local:4317');
    expect(otlp?.verdicts).toBe(true);
  });

  it('the downstream Collector receives OTLP/gRPC on 4317 and OTLP/HTTP on 4318, and has a traces and a logs pipeline', () => {
    expect(downstream.receivers.otlp?.protocols?.grpc?.endpoint).toBe('0.0.0.0:4317');
    expect(downstream.receivers.otlp?.protocols?.http?.endpoint).toBe('0.0.0.0:4318');
    const { traces, logs } = downstream.service.pipelines;
    expect(traces?.receivers).toEqual(['otlp']);
    expect(logs?.receivers).toEqual(['otlp']);
    for (const [pipeline, { receivers, processors = [], exporters }] of Object.entries(downstream.service.pipelines)) {
      for (const r of receivers) expect(Object.keys(downstream.receivers), `${pipeline} receiver`).toContain(r);
      for (const p of processors) expect(Object.keys(downstream.processors ?? {}), `${pipeline} processor`).toContain(p);
      for (const e of exporters) expect(Object.keys(downstream.exporters), `${pipeline} exporter`).toContain(e);
    }
    for (const e of downstream.service.extensions ?? []) expect(Object.keys(downstream.extensions ?? {})).toContain(e);
  });

  it('the downstream Collector keeps its export queues on disk', () => {
    for (const name of [...downstream.service.pipelines.traces!.exporters, ...downstream.service.pipelines.logs!.exporters]) {
      const queue = downstream.exporters[name]?.sending_queue as { enabled?: boolean; storage?: string } | undefined;
      expect(queue?.storage, `${name} sending_queue.storage`).toBe('file_storage');
    }
  });
});

describe('deploy/prometheus/alerts.yaml', () => {
  const rules = yamlFile<RuleFile>('prometheus/alerts.yaml');
  const alerts = rules.groups.flatMap((g) => g.rules);

  it('is a list of named rule groups of alerts with severity and summary', () => {
    expect(rules.groups.length).toBeGreaterThan(0);
    const groupNames = rules.groups.map((g) => g.name);
    expect(new Set(groupNames).size).toBe(groupNames.length);
    for (const group of rules.groups) {
      expect(group.name).toMatch(/\S/);
      expect(group.rules.length, group.name).toBeGreaterThan(0);
      for (const rule of group.rules) {
        expect(rule.alert, `${group.name}: rule`).toMatch(/^[A-Za-z_][\w]*$/);
        expect(rule.expr, `${rule.alert}: expr`).toBeTypeOf('string');
        expect(rule.labels?.severity, `${rule.alert}: labels.severity`).toMatch(/^(page|critical|warning|info|ticket)$/);
        expect(rule.annotations?.summary, `${rule.alert}: annotations.summary`).toMatch(/\S/);
        expect(rule.annotations?.description, `${rule.alert}: annotations.description`).toMatch(/\S/);
        if (rule.for !== undefined) expect(rule.for, `${rule.alert}: for`).toMatch(/^(\d+(ms|[smhdwy]))+$/);
      }
    }
    const names = alerts.map((r) => r.alert);
    expect(new Set(names).size).toBe(names.length);
  });

  it('uses only runledger metrics (and up)', () => {
    for (const rule of alerts) {
      const used = metricNames(rule.expr as string);
      expect(used.length, `${rule.alert}: ${String(rule.expr)}`).toBeGreaterThan(0);
      for (const metric of used) {
        expect(RUNLEDGER_METRICS.has(metric) || metric === 'up', `${rule.alert} uses unknown metric ${metric}`).toBe(true);
      }
    }
  });

  it('covers incomplete runs, violations (paging), open runs, rejections, compliance and liveness', () => {
    const find = (pattern: RegExp) => alerts.filter((r) => pattern.test(String(r.expr)));
    expect(find(/runledger_runs_evaluated_total\{[^}]*status="incomplete"/)).not.toHaveLength(0);
    expect(find(/runledger_runs_evaluated_total\{[^}]*status="violation"/).map((r) => r.labels?.severity)).toContain('page');
    expect(find(/runledger_runs_open\b/)).not.toHaveLength(0);
    expect(find(/rate\(runledger_spans_rejected_total\b/)).not.toHaveLength(0);
    expect(find(/runledger_compliance_ratio\s*<\s*0\.95/)).not.toHaveLength(0);
    expect(find(/\bup\b.*==\s*0/)).not.toHaveLength(0);
  });

  it('reads metric names out of PromQL (self-check of the helper)', () => {
    expect(metricNames('sum by (workflow, le) (rate(foo_total{a="b c", d=~"x|y"}[5m] offset 1h)) / on (x) group_left(y) bar > 0.95 and up == 0')).toEqual(['bar', 'foo_total', 'up']);
    expect(metricNames('histogram_quantile(0.99, sum by (le) (rate(h_bucket[$__rate_interval]))) > 1e3')).toEqual(['h_bucket']);
  });
});

describe('deploy/grafana/runledger-dashboard.json', () => {
  const dashboard = JSON.parse(readFileSync(join(DEPLOY, 'grafana/runledger-dashboard.json'), 'utf8')) as Dashboard;
  const panels = dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
  const queryPanels = panels.filter((p) => p.type !== 'row');
  const exprs = queryPanels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, expr: t.expr })));

  it('is a dashboard with a Prometheus data source variable and a workflow variable', () => {
    expect(dashboard.uid).toMatch(/\S/);
    expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(36);
    const variables = Object.fromEntries(dashboard.templating.list.map((v) => [v.name, v]));
    expect(variables.datasource).toEqual(expect.objectContaining({ type: 'datasource', query: 'prometheus' }));
    const workflow = variables.workflow!;
    expect(workflow.type).toBe('query');
    const query = typeof workflow.query === 'string' ? workflow.query : workflow.query?.query;
    expect(query).toBe('label_values(runledger_runs_evaluated_total, workflow)');
  });

  it('has unique panel ids, and every panel queries the ${datasource} variable', () => {
    const ids = panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const panel of queryPanels) {
      expect(panel.datasource?.uid, panel.title).toBe('${datasource}');
      expect(panel.targets?.length, panel.title).toBeGreaterThan(0);
    }
  });

  it('every target expression references only runledger metrics', () => {
    for (const { panel, expr } of exprs) {
      expect(expr, panel).toBeTypeOf('string');
      const used = metricNames(expr!);
      expect(used.length, `${panel}: ${expr}`).toBeGreaterThan(0);
      for (const metric of used) expect(RUNLEDGER_METRICS.has(metric), `${panel} uses unknown metric ${metric}`).toBe(true);
    }
  });

  it('shows compliance, runs by status, findings by code, open runs, spans, ingest p99 and store size', () => {
    const all = exprs.map((e) => e.expr!).join('\n');
    expect(all).toMatch(/runledger_compliance_ratio\{[^}]*workflow=~"\$workflow"/);
    expect(all).toMatch(/sum by \(status\) \(rate\(runledger_runs_evaluated_total\b/);
    expect(all).toMatch(/sum by \(code\) \(rate\(runledger_findings_total\b/);
    expect(all).toMatch(/runledger_runs_open\b/);
    for (const m of ['received', 'rejected', 'dropped']) expect(all).toMatch(new RegExp(`rate\\(runledger_spans_${m}_total\\b`));
    expect(all).toMatch(/histogram_quantile\(0\.99, .*runledger_ingest_duration_seconds_bucket/);
    expect(all).toMatch(/runledger_store_bytes\b/);
  });
});
