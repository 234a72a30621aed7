import { readFileSync } from 'node:fs'
import path from 'node:path'
import { SETTINGS } from './settings.ts'
import type { Config, SettingSpec } from './settings.ts'

export const CONFIG_FILE = 'config.json'

/** A setting that cannot be used; its message is the one line the operator sees. */
export class ConfigError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'ConfigError'
  }
}

export type Flags = Partial<Record<keyof Config, string>>

export interface ConfigSources {
  env: NodeJS.ProcessEnv
  flags: Flags
}

/**
 * Resolves the configuration: defaults, overridden by `FDN_*` environment
 * variables, overridden by `$FDN_DATA/config.json`, overridden by flags.
 */
export function loadConfig ({ env, flags }: ConfigSources): Config {
  const dataSpec = spec('data')
  const data = path.resolve(flags.data ?? env[dataSpec.env] ?? dataSpec.default ?? '.')
  const file = readConfigFile(path.join(data, CONFIG_FILE))
  const config: Record<string, unknown> = { data }
  for (const setting of SETTINGS) {
    if (setting.key === 'data') continue
    const [raw, source] = pick(setting, env, file, flags)
    if (raw === undefined) {
      config[setting.key] = undefined
      continue
    }
    try {
      config[setting.key] = setting.parse(raw)
    } catch (err) {
      throw new ConfigError(`invalid ${source}: ${(err as Error).message}`)
    }
  }
  return config as unknown as Config
}

/** An `FDN_*` variable that names no setting, and the setting's variable it most likely misspells. */
export interface UnknownVariable {
  variable: string
  suggestion: string | undefined
}

/** `FDN_*` variables that name no setting: likely typos, or settings of a later release. */
export function unknownEnvironment (env: NodeJS.ProcessEnv): UnknownVariable[] {
  const known = SETTINGS.map(s => s.env)
  return Object.keys(env)
    .filter(name => name.startsWith('FDN_') && !known.includes(name))
    .map(variable => ({ variable, suggestion: closest(variable, known) }))
}

/**
 * The known name nearest to `name` (letters' case ignored), if it is near
 * enough to be a typo: at most a third of the name after `FDN_` changed, and
 * always 2 edits (a dropped letter and a swapped pair, say).
 */
function closest (name: string, known: readonly string[]): string | undefined {
  const limit = Math.max(2, Math.floor((name.length - 'FDN_'.length) / 3))
  let best: { name: string, distance: number } | undefined
  for (const candidate of known) {
    const distance = editDistance(name.toUpperCase(), candidate)
    if (distance <= limit && (best == null || distance < best.distance)) best = { name: candidate, distance }
  }
  return best?.name
}

/** Edits (insert, delete, replace a character, swap two neighbours) that turn `a` into `b`: the optimal string alignment distance. */
export function editDistance (a: string, b: string): number {
  // rows i-2, i-1 and i of the table of distances between prefixes of a and b
  let before: number[] = []
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const row = [i]
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      let distance = Math.min((previous[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1, (previous[j - 1] ?? 0) + cost)
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) distance = Math.min(distance, (before[j - 2] ?? 0) + 1)
      row.push(distance)
    }
    before = previous
    previous = row
  }
  return previous[b.length] ?? 0
}

function pick (setting: SettingSpec, env: NodeJS.ProcessEnv, file: ConfigFile, flags: Flags): [string | undefined, string] {
  const flag = flags[setting.key]
  if (flag !== undefined) return [flag, `${setting.flag} (flag)`]
  const fromFile = file.values[setting.key]
  if (fromFile !== undefined) return [String(fromFile), `${setting.key} (${file.path})`]
  const fromEnv = env[setting.env]
  if (fromEnv !== undefined && fromEnv !== '') return [fromEnv, `${setting.env} (environment)`]
  return [setting.default, `${setting.key} (default)`]
}

interface ConfigFile {
  path: string
  values: Record<string, string | number>
}

/** A JSON file that must hold an object: anything else is a ConfigError naming the file and what it should hold. */
export function parseJsonObject (file: string, text: string, expected: string): Record<string, unknown> {
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch (err) {
    throw new ConfigError(`${file} is not valid JSON: ${(err as Error).message}`)
  }
  if (parsed == null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new ConfigError(`${file} must hold ${expected}`)
  return parsed as Record<string, unknown>
}

function readConfigFile (file: string): ConfigFile {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { path: file, values: {} }
    throw new ConfigError(`cannot read ${file}: ${(err as Error).message}`)
  }
  const parsed = parseJsonObject(file, text, 'a JSON object of settings')
  const keys = new Set<string>(SETTINGS.map(s => s.key))
  const values: Record<string, string | number> = {}
  for (const [key, value] of Object.entries(parsed)) {
    if (key === '$comment') continue
    if (key === 'data') throw new ConfigError(`${file}: 'data' cannot be set in the data directory's own config file`)
    if (!keys.has(key)) throw new ConfigError(`${file}: unknown setting '${key}' (known: ${[...keys].filter(k => k !== 'data').join(', ')})`)
    values[key] = fileValue(file, key, value)
  }
  return { path: file, values }
}

/** A config.json value as the text a flag would give: lists become comma-separated, switches `true`/`false`. */
function fileValue (file: string, key: string, value: unknown): string | number {
  if (typeof value === 'string' || typeof value === 'number') return value
  if (typeof value === 'boolean') return String(value)
  if (Array.isArray(value) && value.every(item => typeof item === 'string')) return value.join(',')
  throw new ConfigError(`${file}: setting '${key}' must be a string, a number, true/false or a list of strings`)
}

function spec (key: keyof Config): SettingSpec {
  const found = SETTINGS.find(s => s.key === key)
  if (found == null) throw new Error(`no setting ${key}`)
  return found
}
