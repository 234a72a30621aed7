import { setTimeout as sleep } from 'node:timers/promises'
import type { Command } from 'commander'
import { RELAY_ROUTES } from '../../../protocol/relay-api.ts'
import type { RelayRemoved, RelayView } from '../../../protocol/relay-api.ts'
import { parseDuration } from '../../config/values.ts'
import { AdminClient, CliError } from '../admin-client.ts'
import { print, table } from '../output.ts'
import { dataDirOf } from '../shared-options.ts'

interface Common {
  data?: string
  json?: boolean
}

/** How often `relay add` looks whether the relay answered. */
const POLL_MS = 500
/** `relay add`'s exit code when the relay has not answered within --wait (3 is "no daemon"). */
const EXIT_PENDING = 5

const HELP = `
A relay forwards the public posts of the instances subscribed to it; this node
prefetches their attachments, so media is already here when instances ask.
Two kinds:
  Mastodon-style relays (pub-relay, Activity-Relay, aode-relay…) are given by
    their inbox, a URL ending in /inbox: the node follows the public collection
    there.
  LitePub relays (Pleroma, Akkoma) are given by their actor URL: the node reads
    the actor and follows it at its inbox.
The relay answers the Follow with an Accept or a Reject, at once or later (some
relays are approved by hand); 'fdn relay list' shows where each one stands.
Only posts from relays that accepted are prefetched.

Examples:
  fdn relay add https://relay.example/inbox             Mastodon-style relay
  fdn relay add https://pleroma.example/relay --wait 1m LitePub relay, wait a minute
  fdn relay list
  fdn relay remove https://relay.example/inbox`

export function relayCommand (program: Command): void {
  const relay = program.command('relay')
    .description('subscribe to ActivityPub relays: the attachments of the posts they forward are prefetched')
    .addHelpText('after', HELP)

  relay.command('add')
    .description("subscribe to a relay (send it a signed Follow) and wait for its answer; adding it again sends a new Follow")
    .argument('<url>', "the relay's inbox (Mastodon-style, ends in /inbox) or actor (LitePub)")
    .option('--wait <duration>', "how long to wait for the relay's answer, e.g. 30s (0: do not wait)", '10s')
    .option('--data <dir>', 'data directory of the node (default: $FDN_DATA or ./data)')
    .option('--json', 'print the relay {"url","inbox","actor","style","followId","state","since","lastError"} as JSON')
    .addHelpText('after', `
Example:
  fdn relay add https://relay.example/inbox
  relay https://relay.example/inbox: accepted (mastodon style)

Exit codes: 0 accepted (or sent, with --wait 0); 1 rejected, or the Follow
could not be delivered; 3 no daemon; ${EXIT_PENDING} no answer within --wait (it may still
come: 'fdn relay list' shows when it does).`)
    .action(async (url: string, options: Common & { wait: string }) => {
      const wait = waitOf(options.wait)
      const client = await AdminClient.connect(dataDirOf(options), process.env)
      let relay = await client.request<RelayView>(RELAY_ROUTES.relays, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ url })
      })
      const deadline = Date.now() + wait
      while (relay.state === 'pending' && Date.now() < deadline) {
        await sleep(Math.min(POLL_MS, deadline - Date.now()))
        const inbox = relay.inbox
        const now = (await client.request<RelayView[]>(RELAY_ROUTES.relays)).find(r => r.inbox === inbox)
        if (now == null) throw new CliError(`relay ${relay.url} was removed while waiting for its answer`)
        relay = now
      }
      print(options.json === true, relay, () => describe(relay, options.wait, wait))
      if (relay.state === 'rejected') throw new CliError('the relay refused the subscription')
      if (relay.state === 'failed') throw new CliError(`the Follow was not delivered: ${relay.lastError ?? 'unknown error'}`)
      if (relay.state === 'pending' && wait > 0) throw new CliError(`no answer from the relay within ${options.wait}`, EXIT_PENDING)
    })

  relay.command('list')
    .description('list the relays this node follows: URL, style, state (pending, accepted, rejected, failed), since when, last error')
    .option('--data <dir>', 'data directory of the node (default: $FDN_DATA or ./data)')
    .option('--json', 'print a JSON array')
    .action(async (options: Common) => {
      const client = await AdminClient.connect(dataDirOf(options), process.env)
      const relays = await client.request<RelayView[]>(RELAY_ROUTES.relays)
      print(options.json === true, relays, () => relays.length === 0
        ? "no relays yet: subscribe to one with 'fdn relay add <url>'"
        : table([
          ['URL', 'STYLE', 'STATE', 'SINCE', 'LAST ERROR'],
          ...relays.map(r => [r.url, r.style, r.state, r.since, r.lastError ?? '-'])
        ]).join('\n'))
    })

  relay.command('remove')
    .description('unsubscribe from a relay: send it an Undo of the Follow (best effort) and forget it')
    .argument('<url>', 'the relay, as given to add or as its inbox')
    .option('--data <dir>', 'data directory of the node (default: $FDN_DATA or ./data)')
    .option('--json', 'print the removed relay with "undoDelivered" (and "warning" when the relay did not take the Undo) as JSON')
    .addHelpText('after', `
Example:
  fdn relay remove https://relay.example/inbox
The relay is forgotten even when it cannot be reached; its posts are no longer
prefetched either way.`)
    .action(async (url: string, options: Common) => {
      const client = await AdminClient.connect(dataDirOf(options), process.env)
      const removed = await client.request<RelayRemoved>(`${RELAY_ROUTES.relays}?url=${encodeURIComponent(url)}`, { method: 'DELETE' })
      print(options.json === true, removed, () => removed.undoDelivered
        ? `removed relay ${removed.url} (the relay took the Undo)`
        : `removed relay ${removed.url}; warning: ${removed.warning ?? 'the relay did not take the Undo'}`)
    })
}

/** The line `relay add` prints. */
function describe (relay: RelayView, waitText: string, wait: number): string {
  const head = `relay ${relay.url}`
  switch (relay.state) {
    case 'accepted': return `${head}: accepted (${relay.style} style)`
    case 'rejected': return `${head}: rejected (${relay.style} style)`
    case 'failed': return `${head}: failed (${relay.style} style): ${relay.lastError ?? 'unknown error'}`
    case 'pending': return wait === 0
      ? `${head}: Follow sent (${relay.style} style); 'fdn relay list' shows when the relay answers`
      : `${head}: still pending after ${waitText}: the relay has not answered yet ('fdn relay list' shows when it does)`
  }
}

function waitOf (raw: string): number {
  try {
    return parseDuration(raw)
  } catch (err) {
    throw new CliError(`--wait: ${(err as Error).message}`, 2)
  }
}
