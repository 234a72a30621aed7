/** Routes of the admin API for ActivityPub relays (`fdn relay`), on the admin listener. */
export const RELAY_ROUTES = {
  /** GET: every relay; POST `RelayAddRequest`: subscribe; DELETE `?url=`: unsubscribe. */
  relays: '/admin/v1/relays'
} as const

/**
 * How a relay is followed. `mastodon`: the operator gave the relay's inbox
 * (a URL ending in /inbox) and the node follows the public collection there.
 * `litepub` (Pleroma, Akkoma, aode-relay…): the operator gave the relay's
 * actor and the node follows that actor.
 */
export type RelayStyle = 'mastodon' | 'litepub'

/** `pending` until the relay answers the Follow; `failed` when the Follow could not be delivered. */
export type RelayState = 'pending' | 'accepted' | 'rejected' | 'failed'

/** A relay this node subscribed to, as the admin API shows it. */
export interface RelayView {
  /** What the operator gave: the relay's inbox or actor URL. */
  url: string
  /** Where the node delivers its Follow and Undo (also the relay's key in the node's index). */
  inbox: string
  /** The relay's actor ID (`litepub` relays). */
  actor?: string
  style: RelayStyle
  /** The ID of the Follow the node sent last. */
  followId: string
  state: RelayState
  /** ISO time of the last state change. */
  since: string
  /** Why the last Follow failed (`failed`). */
  lastError?: string
}

export interface RelayAddRequest {
  url: string
}

/** The answer to removing a relay. */
export interface RelayRemoved extends RelayView {
  /** Whether the relay took the Undo of the Follow; the relay is removed either way. */
  undoDelivered: boolean
  /** Why the Undo did not arrive. */
  warning?: string
}
