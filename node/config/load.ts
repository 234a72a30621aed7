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

/** `FDN_*` variables that name no setting: likely typos, or settings of a later release. */
export function unknownEnvironment (env: NodeJS.ProcessEnv): string[] {
  const known = new Set(SETTINGS.map(s => s.env))
  return Object.keys(env).filter(name => name.startsWith('FDN_') && !known.has(name))
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
