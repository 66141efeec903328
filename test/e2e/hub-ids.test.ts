import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type GatewayProcess, startGateway } from '../helpers/gateway-process.js'
import { publish, publisherToken, subscribe } from '../helpers/hub.js'

// Update ids are IRIs: any script. One above U+00FF used to go raw into the `Mercure-Last-Event-ID`
// response header, which Node refuses: every later subscription answered 500, and each left a
// registered subscriber behind that kept every later update.

let gateway: GatewayProcess
let hub: string
let token: string

beforeAll(async () => {
  gateway = await startGateway(['--history-size', '1000'])
  hub = `${gateway.url}/.well-known/mercure`
  token = await publisherToken()
})

afterAll(async () => {
  await gateway.stop()
})

// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point.
const hasControlCharacter = (text: string) => /[\u0000-\u001f\u007f]/.test(text)

/** How a browser's EventSource sends a Last-Event-ID: the id's UTF-8 bytes (fetch takes them as latin1). */
const asHeaderBytes = (id: string) => Buffer.from(id, 'utf8').toString('latin1')

let topics = 0

describe('update ids in any script', () => {
  it('subscribe, replay and resume with ids in Japanese, Arabic, emoji and combining marks', async () => {
    const topic = `https://example.com/ids/${topics++}`
    const ids = ['https://ex.com/日本/1', 'urn:x:مرحبا', 'urn:x:🦊🚀', 'urn:x:e\u0301\u0327', 'urn:x:plain']
    for (const id of ids) {
      const { status } = await publish(
        hub,
        [
          ['topic', topic],
          ['id', id],
          ['data', id],
        ],
        token,
      )
      expect(status).toBe(200)
    }
    // A live subscription: its response header names the newest id, percent-encoded.
    const live = await subscribe(`${hub}?topic=${encodeURIComponent(topic)}`)
    expect(live.response.status).toBe(200)
    expect(live.response.headers.get('mercure-last-event-id')).toBe('urn:x:plain')
    live.close()
    const all = await subscribe(`${hub}?topic=${encodeURIComponent(topic)}&lastEventID=earliest`)
    expect((await all.waitFor(ids.length)).map((event) => event.id)).toEqual(ids)
    all.close()
    const resumed = await subscribe(`${hub}?topic=${encodeURIComponent(topic)}`, {
      'last-event-id': asHeaderBytes(ids[1] as string),
    })
    expect(resumed.response.status).toBe(200)
    expect(resumed.response.headers.get('mercure-last-event-id')).toBe('urn:x:%D9%85%D8%B1%D8%AD%D8%A8%D8%A7')
    expect((await resumed.waitFor(3)).map((event) => event.data)).toEqual(ids.slice(2))
    resumed.close()
  })

  it('refuses an id that is not valid Unicode (a lone surrogate in JSON) with 400', async () => {
    const response = await fetch(hub, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: '{"topic":"https://example.com/ids/lone","id":"urn:x:\\ud800","data":"x"}',
    })
    expect(response.status).toBe(400)
    expect(await response.text()).toMatch(/lone surrogate/)
  })

  it('for random ids in any script: what is published is replayed in order, and resumes after each id', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(
          fc
            .string({ unit: 'grapheme', minLength: 1, maxLength: 12 })
            .filter((id) => id.trim() === id && !hasControlCharacter(id)),
          { minLength: 2, maxLength: 5 },
        ),
        async (suffixes) => {
          const topic = `https://example.com/ids/${topics++}`
          const ids = suffixes.map((suffix) => `urn:random:${topics}:${suffix}`)
          for (const id of ids) {
            const { status, body } = await publish(
              hub,
              [
                ['topic', topic],
                ['id', id],
                ['data', 'x'],
              ],
              token,
            )
            if (status !== 200) throw new Error(`publish ${JSON.stringify(id)}: ${status} ${body}`)
          }
          const all = await subscribe(`${hub}?topic=${encodeURIComponent(topic)}&lastEventID=earliest`)
          expect(all.response.status).toBe(200)
          expect((await all.waitFor(ids.length)).map((event) => event.id)).toEqual(ids)
          all.close()
          const after = Math.floor(ids.length / 2)
          const resumed = await subscribe(`${hub}?topic=${encodeURIComponent(topic)}`, {
            'last-event-id': asHeaderBytes(ids[after] as string),
          })
          expect(resumed.response.status).toBe(200)
          expect((await resumed.waitFor(ids.length - after - 1)).map((event) => event.id)).toEqual(
            ids.slice(after + 1),
          )
          resumed.close()
        },
      ),
      { numRuns: 40 },
    )
  })
})
