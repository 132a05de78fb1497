/**
 * Throwaway PKI for TLS tests, made at test time with the openssl CLI (nothing checked in, so
 * nothing expires in the repository):
 *   - `ca`: a CA certificate;
 *   - `cert`/`key`: a server certificate for localhost, 127.0.0.1 and ::1 (SAN), signed by `ca`;
 *   - `otherCa`: an unrelated CA, for "wrong CA" tests.
 * Keys are P-256 (fast to generate on a shared CI box). The temp directory is removed before
 * the promise resolves, so only PEM strings remain.
 */

import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'

const run = promisify(execFile)
const OPENSSL = '/usr/bin/openssl'

export interface TestCerts {
  /** PEM of the CA that signed `cert`. */
  ca: string
  /** PEM of the server certificate (SAN: DNS:localhost, IP:127.0.0.1, IP:::1). */
  cert: string
  /** PEM of the server private key. */
  key: string
  /** PEM of a CA that signed nothing here. */
  otherCa: string
}

async function makeCa(dir: string, name: string): Promise<{ crt: string; key: string }> {
  const key = join(dir, `${name}.key`)
  const crt = join(dir, `${name}.crt`)
  await run(OPENSSL, [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', key, '-out', crt, '-days', '2', '-subj', `/CN=STT test ${name}`,
    '-addext', 'basicConstraints=critical,CA:TRUE',
    '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ])
  return { crt, key }
}

export async function generateTestCerts(): Promise<TestCerts> {
  const dir = await mkdtemp(join(tmpdir(), 'stt-certs-'))
  try {
    const ca = await makeCa(dir, 'ca')
    const other = await makeCa(dir, 'other-ca')
    const key = join(dir, 'server.key')
    const csr = join(dir, 'server.csr')
    const crt = join(dir, 'server.crt')
    const ext = join(dir, 'server.ext')
    await writeFile(
      ext,
      [
        'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1',
        'basicConstraints=critical,CA:FALSE',
        'keyUsage=critical,digitalSignature',
        'extendedKeyUsage=serverAuth',
      ].join('\n') + '\n',
    )
    await run(OPENSSL, [
      'req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', key, '-out', csr, '-subj', '/CN=localhost',
    ])
    await run(OPENSSL, [
      'x509', '-req', '-in', csr, '-CA', ca.crt, '-CAkey', ca.key, '-CAcreateserial',
      '-out', crt, '-days', '2', '-extfile', ext,
    ])
    const [caPem, certPem, keyPem, otherPem] = await Promise.all(
      [ca.crt, crt, key, other.crt].map((f) => readFile(f, 'utf8')),
    )
    return { ca: caPem!, cert: certPem!, key: keyPem!, otherCa: otherPem! }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}
