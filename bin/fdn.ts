#!/usr/bin/env node
// The `fdn` command. This is the composition root: the one file that hands the
// daemon of gateway/ to the CLI of node/, which may not import gateway/ itself.
import { runCli } from '../node/cli/program.ts'
import { startDaemon } from '../gateway/daemon.ts'

await runCli(process.argv, { startDaemon })
