// The part of jsonld@9 (which ships no types) that ld-signature.ts uses.
declare module 'jsonld' {
  export interface RemoteDocument {
    contextUrl: string | null
    document: unknown
    documentUrl: string
  }

  export type DocumentLoader = (url: string, options?: unknown) => Promise<RemoteDocument>

  export interface CanonizeOptions {
    format?: 'application/n-quads'
    documentLoader?: DocumentLoader
    /** Fail on anything JSON-LD would drop or leave relative (default true for canonize in jsonld 9). */
    safe?: boolean
    base?: string | null
    /** Passed to rdf-canonize. */
    canonizeOptions?: {
      algorithm?: 'RDFC-1.0'
      maxWorkFactor?: number
      maxDeepIterations?: number
      signal?: AbortSignal
    }
  }

  /** jsonld.JsonLdError: `name` is the jsonld error type, `details` its data (safe mode puts the offending event there). */
  export interface JsonLdError extends Error {
    details?: {
      code?: string
      url?: string
      event?: { code?: string, details?: Record<string, unknown> }
    }
  }

  const jsonld: {
    canonize: (input: unknown, options?: CanonizeOptions) => Promise<string>
  }
  export default jsonld
}
