// `npm run simulate -- --servers 10 --instances 100 --posts 200 [--json]`:
// real fdn nodes on loopback, origin web servers and instances; every instance
// fetches every post's attachments through its own node's retrieve API. Prints
// the bytes moved and stored beside the V1 model (see docs/economics.md).
// Exit status: 0 every goal met, 1 a goal failed or the run failed, 2 usage error.
import { parseOptions, UsageError } from './simulate/options.ts'
import type { SimulateOptions } from './simulate/options.ts'
import { evaluate, human, passed } from './simulate/report.ts'
import { cleanup, nodeProblems, note, simulate, stopping } from './simulate/run.ts'

let options: SimulateOptions
try {
  options = parseOptions(process.argv.slice(2))
} catch (err) {
  if (!(err instanceof UsageError)) throw err
  if (err.message !== '') process.stderr.write(`${err.message}\n`)
  process.exit(2)
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    process.stderr.write(`\n${signal}: stopping the nodes and origins\n`)
    void cleanup().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143))
  })
}

let code = 1
try {
  const result = evaluate(await simulate(options))
  code = passed(result) ? 0 : 1
  if (!passed(result)) for (const line of nodeProblems()) process.stderr.write(`${line}\n`)
  process.stdout.write(options.json ? `${JSON.stringify(result)}\n` : human(result))
} catch (err) {
  if (!stopping()) {
    note(`error: ${(err as Error).stack ?? String(err)}`)
    for (const line of nodeProblems()) process.stderr.write(`${line}\n`)
  }
} finally {
  await cleanup()
}
process.exit(code)
