import { FdnError } from '../../protocol/errors.ts'

export const RAW_TYPE = 'application/vnd.ipld.raw'
export const CAR_TYPE = 'application/vnd.ipld.car'

export interface CarOptions {
  dups: boolean
  /** `block`: the root block only; `all`/`entity`: the whole file DAG. */
  scope: 'all' | 'entity' | 'block'
}

export type ResponseFormat =
  | { kind: 'file' }
  | { kind: 'raw' }
  | { kind: 'car', car: CarOptions }

/**
 * Picks the response format as the IPFS gateway specs say: `?format=` wins
 * over `Accept`; an Accept naming no IPLD type gets the file itself.
 */
export function negotiateFormat (query: Record<string, string | undefined>, accept: string | undefined): ResponseFormat {
  const format = query.format
  const scope = parseScope(query['dag-scope'])
  if (format != null && format !== '') {
    if (format === 'raw') return { kind: 'raw' }
    if (format === 'car') return { kind: 'car', car: { dups: false, scope } }
    throw new FdnError('invalid_request', `format '${format}' is not supported (raw and car are)`)
  }
  for (const entry of (accept ?? '').split(',')) {
    const [type, ...params] = entry.split(';').map(part => part.trim())
    if (type === RAW_TYPE) return { kind: 'raw' }
    if (type === CAR_TYPE) return { kind: 'car', car: { ...carParams(params), scope } }
  }
  return { kind: 'file' }
}

function carParams (params: string[]): Omit<CarOptions, 'scope'> {
  let dups = false
  for (const param of params) {
    const [name, value] = param.split('=').map(part => part.trim().toLowerCase())
    if (name === 'version' && value !== '1') throw new FdnError('invalid_request', `CAR version ${value ?? ''} is not supported (1 is)`)
    if (name === 'order' && value !== 'dfs' && value !== 'unk') throw new FdnError('invalid_request', `CAR order ${value ?? ''} is not supported (dfs is)`)
    if (name === 'dups') dups = value === 'y'
  }
  return { dups }
}

function parseScope (raw: string | undefined): CarOptions['scope'] {
  if (raw == null || raw === '' || raw === 'all') return 'all'
  if (raw === 'entity' || raw === 'block') return raw
  throw new FdnError('invalid_request', `dag-scope '${raw}' is not one of all, entity, block`)
}

export function carContentType (car: CarOptions): string {
  return `${CAR_TYPE}; version=1; order=dfs; dups=${car.dups ? 'y' : 'n'}`
}
