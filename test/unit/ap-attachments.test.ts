// The media of relayed posts (protocol/ap-attachments.ts): the shapes that
// Mastodon, LitePub relays (Pleroma/Akkoma), Misskey, Pixelfed and PeerTube
// send, FEP-1311/FEP-ef61 digests, and hostile JSON that must give nothing
// (or a bounded something) without throwing.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { MAX_ATTACHMENTS, MAX_ATTACHMENT_URL_LENGTH, relayedPost } from '../../protocol/ap-attachments.ts'

const PUBLIC = 'https://www.w3.org/ns/activitystreams#Public'
const DIGEST = 'zQmdfTbBqBPQ7VNxZEYEj14VmRuZBkqFbiwReogJgS1zR1n'

/**
 * A Create as Mastodon sends it (the shape of a capture from chaos.social and of
 * app/serializers/activitypub/note_serializer.rb: `Document` attachments with
 * blurhash, focalPoint, width/height, a video's `icon` thumbnail and the
 * preview card as a trailing `Link`), names changed.
 */
const mastodonCreate = {
  '@context': [
    'https://www.w3.org/ns/activitystreams',
    {
      ostatus: 'http://ostatus.org#',
      atomUri: 'ostatus:atomUri',
      inReplyToAtomUri: 'ostatus:inReplyToAtomUri',
      conversation: 'ostatus:conversation',
      sensitive: 'as:sensitive',
      toot: 'http://joinmastodon.org/ns#',
      votersCount: 'toot:votersCount',
      blurhash: 'toot:blurhash',
      focalPoint: { '@container': '@list', '@id': 'toot:focalPoint' }
    }
  ],
  id: 'https://mastodon.example/users/alice/statuses/112123926412043539/activity',
  type: 'Create',
  actor: 'https://mastodon.example/users/alice',
  published: '2024-03-19T19:09:01Z',
  to: [PUBLIC],
  cc: ['https://mastodon.example/users/alice/followers'],
  object: {
    id: 'https://mastodon.example/users/alice/statuses/112123926412043539',
    type: 'Note',
    summary: null,
    inReplyTo: null,
    published: '2024-03-19T19:09:01Z',
    url: 'https://mastodon.example/@alice/112123926412043539',
    attributedTo: 'https://mastodon.example/users/alice',
    to: [PUBLIC],
    cc: ['https://mastodon.example/users/alice/followers'],
    sensitive: false,
    atomUri: 'https://mastodon.example/users/alice/statuses/112123926412043539',
    inReplyToAtomUri: null,
    conversation: 'tag:mastodon.example,2024-03-19:objectId=170881663:objectType=Conversation',
    content: '<p>Two files</p>',
    contentMap: { de: '<p>Two files</p>' },
    attachment: [
      {
        type: 'Document',
        mediaType: 'image/jpeg',
        url: 'https://files.mastodon.example/media_attachments/files/112/123/926/010/469/787/original/8411040be692e93b.jpeg',
        name: null,
        blurhash: 'UFFEQHH?5QXT^R#+X8I;0yS#S$ofJ7J8nit6',
        focalPoint: [0.0, 0.5],
        width: 512,
        height: 512
      },
      {
        type: 'Document',
        mediaType: 'video/mp4',
        url: 'https://files.mastodon.example/media_attachments/files/112/123/926/010/469/788/original/0c2a8ac6e2f4a1b9.mp4',
        name: 'A cat',
        blurhash: 'U9Gk?Z~q00M{?bxuWB%M00ay%Mof4nRjM{of',
        width: 1280,
        height: 720,
        duration: 'PT4S',
        icon: { type: 'Image', mediaType: 'image/png', url: 'https://files.mastodon.example/media_attachments/files/112/123/926/010/469/788/small/thumb.png' }
      },
      { type: 'Link', href: 'https://news.example/an-article' }
    ],
    tag: [],
    replies: {
      id: 'https://mastodon.example/users/alice/statuses/112123926412043539/replies',
      type: 'Collection',
      first: { type: 'CollectionPage', next: 'https://mastodon.example/users/alice/statuses/112123926412043539/replies?only_other_accounts=true&page=true', partOf: 'https://mastodon.example/users/alice/statuses/112123926412043539/replies', items: [] }
    }
  }
}

/** A note as Pleroma/Akkoma render it: `url` is a list of Links. */
const pleromaNote = {
  id: 'https://pleroma.example/objects/6e1d9d4a-0f1c-4a4e-9a59-7b3d1f1c2f00',
  type: 'Note',
  actor: 'https://pleroma.example/users/bob',
  attributedTo: 'https://pleroma.example/users/bob',
  content: 'a photo',
  context: 'https://pleroma.example/contexts/8a7b',
  published: '2024-05-01T10:00:00.000Z',
  to: [PUBLIC],
  cc: ['https://pleroma.example/users/bob/followers'],
  sensitive: false,
  attachment: [
    {
      type: 'Document',
      mediaType: 'image/png',
      name: 'a photo',
      url: [{ type: 'Link', mediaType: 'image/png', href: 'https://pleroma.example/media/4f2e.png' }]
    }
  ]
}

/** A LitePub relay's Announce of that note, embedded. */
const litepubAnnounce = {
  '@context': ['https://www.w3.org/ns/activitystreams', 'https://relay.example/schemas/litepub-0.1.jsonld', { '@language': 'und' }],
  id: 'https://relay.example/activities/0b1c9a0e-42c5-4f5e-8f0e-55bb1a1c2d3e',
  type: 'Announce',
  actor: 'https://relay.example/relay',
  object: pleromaNote,
  to: ['https://relay.example/relay/followers'],
  cc: [PUBLIC]
}

/** Misskey (ApRendererService.renderCreate/renderNote/renderDocument): `_misskey_` fields, `url` strings. */
const misskeyCreate = {
  '@context': ['https://www.w3.org/ns/activitystreams', 'https://w3id.org/security/v1', {
    Key: 'sec:Key',
    misskey: 'https://misskey-hub.net/ns#',
    _misskey_content: 'misskey:_misskey_content',
    _misskey_quote: 'misskey:_misskey_quote',
    isCat: 'misskey:isCat'
  }],
  id: 'https://misskey.example/notes/9t2k3x4y5z/activity',
  actor: 'https://misskey.example/users/9abcdefghi',
  type: 'Create',
  published: '2024-06-01T12:00:00.000Z',
  object: {
    id: 'https://misskey.example/notes/9t2k3x4y5z',
    type: 'Note',
    attributedTo: 'https://misskey.example/users/9abcdefghi',
    content: '<p>にゃーん</p>',
    _misskey_content: 'にゃーん',
    source: { content: 'にゃーん', mediaType: 'text/x.misskeymarkdown' },
    published: '2024-06-01T12:00:00.000Z',
    to: [PUBLIC],
    cc: ['https://misskey.example/users/9abcdefghi/followers'],
    inReplyTo: null,
    attachment: [
      { type: 'Document', mediaType: 'image/webp', url: 'https://misskey.example/files/webpublic-1f2e3d4c.webp', name: null, sensitive: false },
      { type: 'Document', mediaType: 'audio/mpeg', url: 'https://misskey.example/files/2a3b4c5d.mp3', name: 'meow', sensitive: false }
    ],
    sensitive: false,
    tag: []
  },
  to: [PUBLIC],
  cc: ['https://misskey.example/users/9abcdefghi/followers']
}

/** Pixelfed (CreateNote transformer): `Image` attachments with mediaType, url, blurhash, size. */
const pixelfedCreate = {
  '@context': ['https://w3id.org/security/v1', 'https://www.w3.org/ns/activitystreams', { pixelfed: 'http://pixelfed.org/ns#', commentsEnabled: { '@id': 'pixelfed:commentsEnabled', '@type': 'schema:Boolean' } }],
  id: 'https://pixelfed.example/p/carol/701234567890123456/activity',
  type: 'Create',
  actor: 'https://pixelfed.example/users/carol',
  to: [PUBLIC],
  cc: ['https://pixelfed.example/users/carol/followers'],
  object: {
    id: 'https://pixelfed.example/p/carol/701234567890123456',
    type: 'Note',
    summary: null,
    content: 'Sunset',
    inReplyTo: null,
    published: '2024-07-01T20:00:00+00:00',
    url: 'https://pixelfed.example/p/carol/701234567890123456',
    attributedTo: 'https://pixelfed.example/users/carol',
    to: [PUBLIC],
    cc: ['https://pixelfed.example/users/carol/followers'],
    sensitive: false,
    attachment: [
      { type: 'Image', mediaType: 'image/jpeg', url: 'https://pixelfed.example/storage/m/_v2/7012/abcd/sunset.jpg', name: 'The sun going down', blurhash: 'LKO2?U%2Tw=w]~RBVZRi};RPxuwH', width: 1080, height: 1350 }
    ],
    tag: [],
    commentsEnabled: true,
    capabilities: { announce: PUBLIC, like: PUBLIC, reply: PUBLIC },
    location: null
  }
}

/** A Create of a note whose attachments are the given values. */
function createWith (attachment: unknown): Record<string, unknown> {
  return {
    type: 'Create',
    actor: 'https://a.example/users/a',
    object: { id: 'https://a.example/notes/1', type: 'Note', attributedTo: 'https://a.example/users/a', attachment }
  }
}

function urlsOf (activity: unknown): string[] | undefined {
  return relayedPost(activity)?.attachments.map(attachment => attachment.url)
}

describe('relayedPost: what relays deliver', () => {
  it("takes Mastodon's Documents, not the preview card or thumbnails", () => {
    const note = mastodonCreate.object
    assert.deepEqual(relayedPost(mastodonCreate), {
      actor: 'https://mastodon.example/users/alice',
      status: note.id,
      attachments: [
        { url: note.attachment[0]?.url, mediaType: 'image/jpeg' },
        { url: note.attachment[1]?.url, mediaType: 'video/mp4' }
      ]
    })
  })

  it("takes the note a LitePub relay announces, owned by the note's author", () => {
    assert.deepEqual(relayedPost(litepubAnnounce), {
      actor: 'https://pleroma.example/users/bob',
      status: pleromaNote.id,
      attachments: [{ url: 'https://pleroma.example/media/4f2e.png', mediaType: 'image/png' }]
    })
  })

  it('takes the Create a relay announces, owned by its actor', () => {
    const post = relayedPost({ type: 'Announce', actor: 'https://relay.example/actor', object: mastodonCreate })
    assert.equal(post?.actor, 'https://mastodon.example/users/alice')
    assert.equal(post?.attachments.length, 2)
  })

  it('takes Misskey and Pixelfed notes', () => {
    assert.deepEqual(relayedPost(misskeyCreate), {
      actor: 'https://misskey.example/users/9abcdefghi',
      status: 'https://misskey.example/notes/9t2k3x4y5z',
      attachments: [
        { url: 'https://misskey.example/files/webpublic-1f2e3d4c.webp', mediaType: 'image/webp' },
        { url: 'https://misskey.example/files/2a3b4c5d.mp3', mediaType: 'audio/mpeg' }
      ]
    })
    assert.deepEqual(relayedPost(pixelfedCreate), {
      actor: 'https://pixelfed.example/users/carol',
      status: 'https://pixelfed.example/p/carol/701234567890123456',
      attachments: [{ url: 'https://pixelfed.example/storage/m/_v2/7012/abcd/sunset.jpg', mediaType: 'image/jpeg' }]
    })
  })

  it('gives nothing for an Announce of a bare URI, a Create of a URI, or a post without media', () => {
    assert.equal(relayedPost({ type: 'Announce', actor: 'https://relay.example/relay', object: pleromaNote.id }), undefined)
    assert.equal(relayedPost({ type: 'Announce', actor: 'https://relay.example/relay', object: { type: 'Create', actor: 'https://a.example/users/a', object: 'https://a.example/notes/1' } }), undefined)
    assert.equal(relayedPost({ type: 'Create', actor: 'https://a.example/users/a', object: 'https://a.example/notes/1' }), undefined)
    assert.equal(relayedPost({ ...mastodonCreate, object: { ...mastodonCreate.object, attachment: [] } }), undefined)
    assert.equal(relayedPost(createWith([{ type: 'Link', href: 'https://news.example/a' }])), undefined)
  })

  it('gives nothing for other activities and objects', () => {
    assert.equal(relayedPost({ ...mastodonCreate, type: 'Update' }), undefined)
    assert.equal(relayedPost({ ...mastodonCreate, object: { ...mastodonCreate.object, type: 'Person' } }), undefined)
    assert.equal(relayedPost({ type: 'Announce', actor: 'https://relay.example/relay', object: { ...pleromaNote, type: 'Like' } }), undefined)
  })

  it('reads every post type that carries attachments', () => {
    for (const type of ['Note', 'Article', 'Page', 'Question', 'Video', 'Image', 'Audio', 'Event']) {
      const activity = createWith({ url: 'https://a.example/f.png' })
      activity.object = { ...(activity.object as object), type }
      assert.deepEqual(urlsOf(activity), ['https://a.example/f.png'], type)
    }
  })

  it("finds the announced note's actor in attributedTo of any shape", () => {
    const announce = (attributedTo: unknown): unknown => ({ type: 'Announce', actor: 'https://relay.example/relay', object: { ...pleromaNote, attributedTo } })
    const bob = 'https://pleroma.example/users/bob'
    assert.equal(relayedPost(announce({ type: 'Person', id: bob }))?.actor, bob)
    // PeerTube: the account, then its channel.
    assert.equal(relayedPost(announce([{ type: 'Person', id: bob }, { type: 'Group', id: 'https://pleroma.example/c/x' }]))?.actor, bob)
    assert.equal(relayedPost(announce([5, null, [bob], bob]))?.actor, bob)
    assert.equal(relayedPost(announce(undefined)), undefined)
    assert.equal(relayedPost(announce({ id: 42 })), undefined)
    assert.equal(relayedPost(announce('not a url')), undefined)
  })

  it('needs an http(s) actor and status id', () => {
    assert.equal(relayedPost({ ...mastodonCreate, actor: { id: 'https://mastodon.example/users/alice' } })?.actor, 'https://mastodon.example/users/alice')
    assert.equal(relayedPost({ ...mastodonCreate, actor: 12 }), undefined)
    assert.equal(relayedPost({ ...mastodonCreate, actor: ['https://mastodon.example/users/alice'] }), undefined)
    assert.equal(relayedPost({ ...mastodonCreate, object: { ...mastodonCreate.object, id: undefined } }), undefined)
    assert.equal(relayedPost({ ...mastodonCreate, object: { ...mastodonCreate.object, id: 'urn:uuid:1' } }), undefined)
  })
})

describe('relayedPost: attachment urls, types and digests', () => {
  it('takes the first media Link of a url list (PeerTube, FEP-ef61) with its digest', () => {
    const post = relayedPost(createWith({
      type: 'Video',
      mediaType: 'video/mp4',
      url: [
        { type: 'Link', mediaType: 'text/html', href: 'https://tube.example/w/abc' },
        { type: 'Link', mediaType: 'application/x-mpegURL', href: 'https://tube.example/hls/abc.m3u8' },
        { type: 'Link', mediaType: 'video/mp4', href: 'hl:zQmabc' },
        { type: 'Link', mediaType: 'video/webm', href: 'https://tube.example/abc-720.webm', digestMultibase: DIGEST },
        { type: 'Link', mediaType: 'video/mp4', href: 'https://tube.example/abc-1080.mp4' }
      ]
    }))
    assert.deepEqual(post?.attachments, [{ url: 'https://tube.example/abc-720.webm', mediaType: 'video/webm', digestMultibase: DIGEST }])
  })

  it('takes a Link without mediaType, a string in a list, and the attachment-level type and digest (FEP-1311)', () => {
    assert.deepEqual(relayedPost(createWith({ type: 'Image', mediaType: 'image/avif', digestMultibase: DIGEST, url: { type: 'Link', href: 'https://a.example/f.avif' } }))?.attachments,
      [{ url: 'https://a.example/f.avif', mediaType: 'image/avif', digestMultibase: DIGEST }])
    assert.deepEqual(urlsOf(createWith({ url: ['ipfs://bafy', 'https://a.example/f.png'] })), ['https://a.example/f.png'])
    assert.deepEqual(relayedPost(createWith({ url: { href: 'https://a.example/f.png', mediaType: 'Image/PNG; q=1' } }))?.attachments,
      [{ url: 'https://a.example/f.png', mediaType: 'Image/PNG; q=1' }])
  })

  it('keeps a declared non-media type of a plain url for the type filter to judge', () => {
    assert.deepEqual(relayedPost(createWith({ type: 'Document', mediaType: 'application/pdf', url: 'https://a.example/f.pdf' }))?.attachments,
      [{ url: 'https://a.example/f.pdf', mediaType: 'application/pdf' }])
  })

  it('drops digests and media types that are not short strings', () => {
    assert.deepEqual(relayedPost(createWith([
      { url: 'https://a.example/1.png', mediaType: 5, digestMultibase: 'z'.repeat(129) },
      { url: 'https://a.example/2.png', mediaType: 'x'.repeat(300), digestMultibase: { value: DIGEST } },
      { url: 'https://a.example/3.png', mediaType: '', digestMultibase: 'z'.repeat(128) }
    ]))?.attachments, [
      { url: 'https://a.example/1.png' },
      { url: 'https://a.example/2.png' },
      { url: 'https://a.example/3.png', digestMultibase: 'z'.repeat(128) }
    ])
  })

  it('takes a url once', () => {
    assert.deepEqual(urlsOf(createWith([{ url: 'https://a.example/1.png' }, { url: 'https://a.example/1.png' }])), ['https://a.example/1.png'])
  })

  it('accepts type lists, compact and expanded AS types, and any @context', () => {
    const activity = {
      '@context': [{ '@vocab': 'https://example.org/' }, 42, null],
      type: ['https://www.w3.org/ns/activitystreams#Create', 'x:Y'],
      actor: 'https://a.example/users/a',
      object: { id: 'https://a.example/notes/1', type: 'as:Note', attachment: { type: ['Document', 7], url: 'https://a.example/f.png' } }
    }
    assert.deepEqual(urlsOf(activity), ['https://a.example/f.png'])
  })
})

describe('relayedPost: hostile shapes', () => {
  it('ignores attachments that are not objects', () => {
    for (const attachment of [5, 'https://a.example/f.png', true, null, [[[{ url: 'https://a.example/f.png' }]]], [5, 'x', [], null]]) {
      assert.equal(relayedPost(createWith(attachment)), undefined, JSON.stringify(attachment))
    }
  })

  it('refuses urls that are not http(s), relative, malformed or too long', () => {
    const long = `https://a.example/${'a'.repeat(MAX_ATTACHMENT_URL_LENGTH)}`.slice(0, MAX_ATTACHMENT_URL_LENGTH + 1)
    const bad = [
      { href: 'file:///etc/passwd' }, 'file:///etc/passwd', 'javascript:alert(1)', 'data:image/png;base64,AAAA', 'ftp://a.example/f.png',
      '/media/f.png', '//a.example/f.png', 'https://', 'http://[::1', long, [long], { href: long }, { href: 5 }, { url: 'https://a.example/f.png' },
      [[['https://a.example/f.png']]], { href: 'https://a.example/page', mediaType: 'text/html' }
    ]
    for (const url of bad) assert.equal(relayedPost(createWith({ type: 'Document', url })), undefined, JSON.stringify(url).slice(0, 80))
    assert.deepEqual(urlsOf(createWith({ url: long.slice(0, MAX_ATTACHMENT_URL_LENGTH) })), [long.slice(0, MAX_ATTACHMENT_URL_LENGTH)])
  })

  it(`takes at most ${MAX_ATTACHMENTS} of 10,000 attachments`, () => {
    const attachment = Array.from({ length: 10_000 }, (_, i) => ({ type: 'Document', url: `https://a.example/${i}.png` }))
    const urls = urlsOf(createWith(attachment))
    assert.equal(urls?.length, MAX_ATTACHMENTS)
    assert.equal(urls?.[0], 'https://a.example/0.png')
  })

  it('reads a bounded part of huge url lists and deep nesting without recursion', () => {
    const url = [...Array.from({ length: 100_000 }, () => 'ftp://x'), 'https://a.example/late.png']
    assert.equal(relayedPost(createWith({ url })), undefined)
    let deep: unknown = { url: 'https://a.example/f.png' }
    for (let i = 0; i < 100_000; i++) deep = [deep]
    assert.equal(relayedPost(createWith(deep)), undefined)
    let nested: unknown = createWith({ url: 'https://a.example/f.png' })
    for (let i = 0; i < 100_000; i++) nested = { type: 'Announce', object: nested }
    assert.equal(relayedPost(nested), undefined)
  })

  it('reads own properties only (__proto__ from JSON.parse is data)', () => {
    const activity: unknown = JSON.parse('{"type":"Create","actor":"https://a.example/users/a","object":{"id":"https://a.example/notes/1","type":"Note",' +
      '"attachment":[{"__proto__":{"url":"https://evil.example/f.png"}},{"constructor":{"url":"https://evil.example/g.png"}}]}}')
    assert.equal(relayedPost(activity), undefined)
  })

  it('never throws on junk', () => {
    for (const junk of [undefined, null, 0, 'Create', [], [mastodonCreate], { type: 'Create' }, { type: 'Create', object: [mastodonCreate.object] },
      { type: 'Announce', object: [pleromaNote] }, { type: 5 }, { type: { '@id': 'Create' } }, Object.create(null)]) {
      assert.equal(relayedPost(junk), undefined)
    }
  })
})
