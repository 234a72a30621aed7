/**
 * Secrets taken out of every log line before it is written, whichever code
 * logged it and under whichever field: the access log's URLs, request headers,
 * error messages. A presigned URL's signature is a key to the object for up to
 * 7 days, an access key id and a session token half of a credential, the admin
 * token full control of the node. Works on the JSON text of a line (pino's
 * streamWrite hook): nothing here puts a `"` or `\` in, so the line stays JSON.
 */

const REDACTED = '[redacted]'

/**
 * `name=value` of signatures and credentials: presigned URLs' query
 * parameters (SigV4 `X-Amz-…`, SigV2 `Signature` and `AWSAccessKeyId`), the
 * parts of a SigV4 `Authorization` header (`Credential=…, Signature=…`), and a
 * draft-cavage HTTP signature's `signature="…"` (in JSON text its quotes are
 * escaped: `signature=\"…\"`).
 */
const PARAMETERS = /\b(X-Amz-Signature|X-Amz-Credential|X-Amz-Security-Token|AWSAccessKeyId|Credential|Signature)=(\\"[^"\\]*\\"|[^&\s",;\\]+)/gi

/** An `Authorization: Bearer …` or `Basic …` credential (long enough not to be prose such as "a bearer token"). */
const SCHEMES = /\b(Bearer|Basic)\s+[\w.~+/-]{16,}=*/gi

/** An RFC 9421 `Signature` header's value, a structured-field byte sequence: `sig1=:base64:`. */
const BYTE_SEQUENCES = /=:[A-Za-z0-9+/]{16,}={0,2}:/g

/** JSON fields that hold a secret whole, at any depth: request headers logged as objects, tokens, secrets. */
const FIELDS = /"(authorization|proxy-authorization|cookie|set-cookie|signature|signature-input|x-amz-security-token|token|secret|secretAccessKey|password)":"(?:[^"\\]|\\.)*"/gi

/** Whether a line may hold any of the above: most lines (the access log's `/ipfs/…` reads) are passed on after this one look. */
const MAYBE = /authorization|cookie|signature|token|secret|password|bearer|basic/i

/** The line with every secret it holds replaced by `[redacted]`. */
export function redactSecrets (line: string): string {
  if (!line.includes('=') && !MAYBE.test(line)) return line
  return line
    .replace(FIELDS, (_, name: string) => `"${name}":"${REDACTED}"`)
    .replace(PARAMETERS, (_, name: string) => `${name}=${REDACTED}`)
    .replace(SCHEMES, (_, scheme: string) => `${scheme} ${REDACTED}`)
    .replace(BYTE_SEQUENCES, `=:${REDACTED}:`)
}
