import { Option } from 'commander'
import type { Command } from 'commander'
import { loadConfig, unknownEnvironment } from '../../config/load.ts'
import type { Flags } from '../../config/load.ts'
import { SETTINGS } from '../../config/settings.ts'
import type { Config, SettingSpec } from '../../config/settings.ts'
import { createLogger } from '../../log.ts'
import type { Logger } from '../../log.ts'

/** What `start` runs; the composition root (gateway/daemon.ts) provides it, since node/ may not import gateway/. */
export type StartDaemon = (config: Config, log: Logger) => Promise<{ close: () => Promise<void> }>

export function startCommand (program: Command, startDaemon: StartDaemon): void {
  const command = program.command('start')
    .description('run the node: public gateway, admin API and store (creates the data directory on first start)')
  // flag attribute (commander's camel case of the flag) → setting: they differ where a
  // flag cannot be the key's name (--fetch-disabled: commander reads --no-fetch as a negation)
  const keys = new Map<string, SettingSpec['key']>()
  for (const setting of SETTINGS) {
    const defaultText = setting.default != null && setting.default !== '' ? ` (default ${setting.default})` : ''
    const option = new Option(`${setting.flag} ${setting.toggle === true ? '[value]' : '<value>'}`, `${setting.describe}; env ${setting.env}${defaultText}`)
    keys.set(option.attributeName(), setting.key)
    command.addOption(option)
  }
  command.action(async (options: Record<string, string | true | undefined>) => {
    const flags: Flags = {}
    for (const [attribute, value] of Object.entries(options)) {
      const key = keys.get(attribute)
      if (key != null && value !== undefined) flags[key] = value === true ? 'true' : value
    }
    const config = loadConfig({ env: process.env, flags })
    const log = createLogger(config.logLevel, config.logFormat)
    for (const { variable, suggestion } of unknownEnvironment(process.env)) {
      log.warn({ variable, suggestion }, `unknown FDN_* environment variable ignored: ${variable}${suggestion != null ? ` (did you mean ${suggestion}?)` : ''}`)
    }
    const daemon = await startDaemon(config, log)
    let stopping = false
    const stop = (signal: string): void => {
      if (stopping) return
      stopping = true
      log.info({ signal }, 'shutting down: finishing in-flight requests')
      daemon.close().then(() => process.exit(0), (err: unknown) => {
        log.error({ err }, 'shutdown failed')
        process.exit(1)
      })
    }
    process.on('SIGTERM', () => { stop('SIGTERM') })
    process.on('SIGINT', () => { stop('SIGINT') })
  })
}
