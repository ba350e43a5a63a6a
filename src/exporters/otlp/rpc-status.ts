import { RETRY_INFO_TYPE_URL, RetryInfo, RpcStatus } from '../../otlp/proto.js';

/** What a downstream's google.rpc.Status says: its message and, when it holds a RetryInfo, the delay asked for. */
export interface RefusalStatus {
  readonly message: string;
  readonly retryDelayMs?: number;
}

/**
 * Decodes a google.rpc.Status: gRPC sends it in the grpc-status-details-bin trailer, OTLP/HTTP as the
 * body of a refusal. Undecodable bytes give undefined: the usual backoff applies.
 */
export function decodeRefusalStatus(bytes: Uint8Array): RefusalStatus | undefined {
  try {
    const status = RpcStatus.decode(bytes) as unknown as {
      message?: string;
      details?: Array<{ type_url?: string; typeUrl?: string; value?: Uint8Array }>;
    };
    const info = status.details?.find((d) => (d.type_url ?? d.typeUrl) === RETRY_INFO_TYPE_URL);
    const retryDelayMs = info?.value === undefined ? undefined : delayOf(info.value);
    return { message: status.message ?? '', ...(retryDelayMs === undefined ? {} : { retryDelayMs }) };
  } catch {
    return undefined; // a proxy's HTML page or a truncated body: the HTTP status alone decides
  }
}

function delayOf(retryInfo: Uint8Array): number | undefined {
  const delay = (RetryInfo.decode(retryInfo) as unknown as { retryDelay?: { seconds?: { toNumber(): number } | number; nanos?: number } }).retryDelay;
  if (delay === undefined) return undefined;
  const seconds = typeof delay.seconds === 'object' ? delay.seconds.toNumber() : (delay.seconds ?? 0);
  return seconds * 1000 + (delay.nanos ?? 0) / 1e6;
}
