// The xsalsa20@1.2.0 interface (`xsalsa20(nonce, key)` → `{ update(input, output?), finalize() }`)
// as a keystream XOR that may be fed any split of the stream, on @noble/ciphers (pure JS, no shared memory).
import { xsalsa20 as xor } from '@noble/ciphers/salsa.js'

const BLOCK = 64

export default function xsalsa20 (nonce, key) {
  let offset = 0
  return {
    update (input, output) {
      const skip = offset % BLOCK
      const padded = new Uint8Array(skip + input.length)
      padded.set(input, skip)
      xor(key, nonce, padded, padded, Math.floor(offset / BLOCK))
      offset += input.length
      const result = padded.subarray(skip)
      if (output == null) return result
      output.set(result)
      return output
    },
    finalize () {}
  }
}
