// The x-amz-checksum-* algorithms (gateway/s3/auth/checksums.ts): published
// check values, and agreement with the AWS SDK's own implementations on
// random data cut at random places.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createHash, randomBytes, randomInt } from 'node:crypto'
import { crc32 as zlibCrc32 } from 'node:zlib'
import { crc32c as awsCrc32c } from '@aws-crypto/crc32c'
import { Crc64Nvme as AwsCrc64Nvme } from '@aws-sdk/crc64-nvme'
import { CHECKSUM_ALGORITHMS, checksumOf, createChecksum } from '../../gateway/s3/auth/checksums.ts'
import type { ChecksumAlgorithm } from '../../gateway/s3/auth/checksums.ts'
import { decodeChecksumValue } from '../../gateway/s3/auth/checksums.ts'

function hex (alg: ChecksumAlgorithm, data: Uint8Array, cuts: number[] = []): string {
  const c = createChecksum(alg)
  let at = 0
  for (const cut of [...cuts, data.length]) {
    c.update(data.subarray(at, cut))
    at = cut
  }
  return c.digest().toString('hex')
}

describe('checksums', () => {
  it('gives the published check values for "123456789"', () => {
    const check = Buffer.from('123456789')
    assert.equal(hex('crc32', check), 'cbf43926')
    assert.equal(hex('crc32c', check), 'e3069283')
    assert.equal(hex('crc64nvme', check), 'ae8b14860a799888')
    assert.equal(hex('sha1', check), 'f7c3bc1d808e04732adf679965ccc34ca7ae3441')
    // and the CRC32C of the S3 documentation's trailer example (66560 × "a")
    assert.equal(checksumOf('crc32c', Buffer.alloc(66560, 'a')), 'sOO8/Q==')
    // the empty input
    assert.equal(hex('crc32', Buffer.alloc(0)), '00000000')
    assert.equal(hex('crc64nvme', Buffer.alloc(0)), '0000000000000000')
  })

  it('agrees with zlib, @aws-crypto/crc32c, @aws-sdk/crc64-nvme and OpenSSL, whatever the cuts', async () => {
    for (let i = 0; i < 200; i++) {
      const data = randomBytes(randomInt(0, i < 100 ? 64 : 70_000))
      const cuts = Array.from({ length: randomInt(4) }, () => randomInt(data.length + 1)).sort((a, b) => a - b)
      const crc32 = Buffer.alloc(4)
      crc32.writeUInt32BE(zlibCrc32(data))
      assert.equal(hex('crc32', data, cuts), crc32.toString('hex'))
      const crc32c = Buffer.alloc(4)
      crc32c.writeUInt32BE(awsCrc32c(data) >>> 0)
      assert.equal(hex('crc32c', data, cuts), crc32c.toString('hex'))
      const ref = new AwsCrc64Nvme()
      ref.update(data)
      assert.equal(hex('crc64nvme', data, cuts), Buffer.from(await ref.digest()).toString('hex'))
      assert.equal(hex('sha256', data, cuts), createHash('sha256').update(data).digest('hex'))
      assert.equal(hex('sha1', data, cuts), createHash('sha1').update(data).digest('hex'))
    }
  })

  it('reads only canonical base64 of the right size', () => {
    for (const alg of CHECKSUM_ALGORITHMS) {
      const value = checksumOf(alg, Buffer.from('x'))
      assert.ok(decodeChecksumValue(alg, value) !== undefined, alg)
      assert.equal(decodeChecksumValue(alg, value.slice(1)), undefined)
      assert.equal(decodeChecksumValue(alg, value + '='), undefined)
    }
    assert.ok(decodeChecksumValue('crc32', 'AAAAAA==') !== undefined)
    assert.equal(decodeChecksumValue('crc32', 'AAAAAB=='), undefined) // stray bits in the padding
    assert.equal(decodeChecksumValue('crc32', 'AAAA'), undefined)
    assert.equal(decodeChecksumValue('crc32', 'AA-AAA=='), undefined)
  })

  it('runs fast enough to be on every upload', (t) => {
    const data = randomBytes(16 << 20)
    for (const alg of CHECKSUM_ALGORITHMS) {
      const start = performance.now()
      const c = createChecksum(alg)
      for (let i = 0; i < data.length; i += 65536) c.update(data.subarray(i, i + 65536))
      c.digest()
      const mbps = 16 / ((performance.now() - start) / 1000)
      t.diagnostic(`${alg}: ${mbps.toFixed(0)} MB/s`)
      // far below what the machine does; it only catches a pathological slowdown
      assert.ok(mbps > 100, `${alg} at ${mbps.toFixed(0)} MB/s`)
    }
  })
})
