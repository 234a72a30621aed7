#!/usr/bin/env node
// The `fdn` command. This is the composition root: the one file that hands the
// daemon of gateway/ to the CLI of node/, which may not import gateway/ itself.
import { runCli } from '../node/cli/program.ts'
import type { StartDaemon } from '../node/cli/commands/start.ts'

// loaded only by `start`: the other commands are short-lived clients, and
// fastify, level and the S3 stack would double their start-up time
const startDaemon: StartDaemon = async (config, log) => {
  const { startDaemon: start } = await import('../gateway/daemon.ts')
  return await start(config, log)
}

await runCli(process.argv, { startDaemon })
