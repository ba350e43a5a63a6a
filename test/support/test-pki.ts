import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** PEM files of one certificate and its key. */
export interface IssuedCert {
  readonly certFile: string;
  readonly keyFile: string;
  readonly cert: Buffer;
  readonly key: Buffer;
}

export interface TestCa extends IssuedCert {
  /** Issues a leaf certificate signed by this CA. */
  issue(name: string, usage: 'server' | 'client', subjectAltName?: string): IssuedCert;
}

const openssl = (args: readonly string[]) => execFileSync('openssl', args, { stdio: ['ignore', 'pipe', 'pipe'] });

/** A throwaway CA (P-256, valid one day) in `dir`, made with the openssl CLI. */
export function createTestCa(dir: string, name: string): TestCa {
  const keyFile = join(dir, `${name}.key`);
  const certFile = join(dir, `${name}.pem`);
  openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', keyFile]);
  openssl([
    'req', '-x509', '-new', '-key', keyFile, '-out', certFile, '-days', '1', '-subj', `/CN=${name}`,
    '-addext', 'basicConstraints=critical,CA:TRUE',
    '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  const read = (file: string) => readFileSync(file);
  return {
    certFile,
    keyFile,
    cert: read(certFile),
    key: read(keyFile),
    issue(leaf, usage, subjectAltName) {
      const leafKey = join(dir, `${leaf}.key`);
      const leafCsr = join(dir, `${leaf}.csr`);
      const leafCert = join(dir, `${leaf}.pem`);
      const extFile = join(dir, `${leaf}.ext`);
      writeFileSync(
        extFile,
        [
          'basicConstraints=critical,CA:FALSE',
          'keyUsage=critical,digitalSignature,keyEncipherment',
          `extendedKeyUsage=${usage === 'server' ? 'serverAuth' : 'clientAuth'}`,
          ...(subjectAltName !== undefined ? [`subjectAltName=${subjectAltName}`] : []),
        ].join('\n'),
      );
      openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', leafKey]);
      openssl(['req', '-new', '-key', leafKey, '-out', leafCsr, '-subj', `/CN=${leaf}`]);
      openssl([
        'x509', '-req', '-in', leafCsr, '-CA', certFile, '-CAkey', keyFile, '-CAcreateserial',
        '-out', leafCert, '-days', '1', '-sha256', '-extfile', extFile,
      ]);
      return { certFile: leafCert, keyFile: leafKey, cert: read(leafCert), key: read(leafKey) };
    },
  };
}
