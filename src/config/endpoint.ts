import { z } from 'zod';

/** A `host:port` listen address, as the OpenTelemetry Collector writes them (`[::1]:4317` for IPv6). */
export const endpointSchema = z
  .string()
  .regex(/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]*):\d{1,5}$/, {
    message: 'must be host:port, e.g. localhost:4317 or 0.0.0.0:4317',
    abort: true, // the port check below means nothing without a port
  })
  .refine((value) => Number(value.slice(value.lastIndexOf(':') + 1)) <= 65535, 'port must be at most 65535');

export interface HostPort {
  host: string;
  port: number;
}

export function parseEndpoint(endpoint: string): HostPort {
  const colon = endpoint.lastIndexOf(':');
  const host = endpoint.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
  return { host: host === '' ? '0.0.0.0' : host, port: Number(endpoint.slice(colon + 1)) };
}
