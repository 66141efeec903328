import { describe, expect, it } from 'vitest'
import { testGenerationOptions } from '../../../test/helpers/generation-options.js'
import { MemoryStreamStore } from '../../streams/memory-store.js'
import type { StreamStore } from '../../streams/stream-store.js'
import type { Generation } from './generation.js'
import { type GenerationControl, type GenerationNodes, LocalNodes } from './generation-nodes.js'
import { DEFAULT_RETENTION, Generations } from './generations.js'
import { StoredGenerations } from './stored-generations.js'

const chunk = (text: string) =>
  Buffer.from(`data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: text } }] })}\n\n`)
const retention = { retainFor: 3_600_000, maxBytes: 1 << 30 }

/** Nodes on one in-process bus: each says whether the others live, and passes control messages. */
function cluster() {
  const alive = new Set<string>()
  const handlers = new Map<string, (control: GenerationControl) => void>()
  let next = 0
  const node = (): GenerationNodes => {
    const id = `node-${next++}`
    alive.add(id)
    return {
      id,
      isAlive: async (other) => alive.has(other),
      requestCancel: async (generationId) => {
        for (const handler of handlers.values()) handler({ type: 'cancel', id: generationId })
      },
      announce: () => {},
      onControl: (handler) => handlers.set(id, handler),
      close: async () => {
        alive.delete(id)
      },
    }
  }
  return { node, kill: (nodes: GenerationNodes) => alive.delete(nodes.id) }
}

function gateway(store: StreamStore, nodes: GenerationNodes = new LocalNodes()) {
  return new Generations(DEFAULT_RETENTION, () => {}, new StoredGenerations(store, nodes, retention))
}

async function stored(store: StreamStore, path: string): Promise<string> {
  const page = await store.read(path, 0, 1 << 30)
  return Buffer.concat(page?.entries ?? []).toString('utf8')
}

const settled = async (generation: Generation) => {
  await generation.ended
  return generation
}

describe('stored generations', () => {
  it('store each event with its id line before viewers get it, then the end: byte for byte what viewers got', async () => {
    const store = new MemoryStreamStore()
    const generations = gateway(store)
    const generation = generations.create(testGenerationOptions)
    generation.relay([chunk('Hel'), chunk('lo')])
    // Numbered, not yet out: the store has not committed them.
    expect(generation.eventCount).toBe(0)
    await generation.reached(2)
    expect(generation.eventCount).toBe(2)
    generation.relay([chunk('!')])
    generation.complete()
    await settled(generation)
    const bytes = await stored(store, `/generations/${generation.id}`)
    expect(bytes).toBe(generation.eventsAfter(0).toString('utf8'))
    expect(bytes.startsWith('id: 1\ndata: ')).toBe(true)
    expect((await store.head(`/generations/${generation.id}`))?.closed).toBe(true)
    const meta = await store.read(`/generations/${generation.id}/meta`, 0, 1 << 20)
    expect(JSON.parse(String(meta?.entries[1]))).toMatchObject({ finished: { state: 'completed' } })
  })

  it('are read back after a restart: the same events, state, text and usage', async () => {
    const store = new MemoryStreamStore()
    const before = gateway(store).create(testGenerationOptions)
    before.relay([chunk('a'), chunk('b'), chunk('c')])
    before.complete()
    await settled(before)
    const after = await gateway(store).find(before.id)
    expect(after?.isOver).toBe(true)
    expect(after?.state).toBe('completed')
    expect(after?.eventsAfter(0).equals(before.eventsAfter(0))).toBe(true)
    expect(after?.text()).toBe('abc')
    expect(after?.usage()).toEqual(before.usage())
    expect(after?.createdAt).toBe(before.createdAt)
    expect(await gateway(store).find('gen_unknown')).toBeUndefined()
    expect(await gateway(store).find('../etc/passwd')).toBeUndefined()
  })

  it('one running when its process died reads as interrupted, its stream ending with the provider’s error event', async () => {
    const store = new MemoryStreamStore()
    const crashed = gateway(store).create(testGenerationOptions)
    crashed.relay([chunk('a'), chunk('b')])
    await crashed.reached(2)
    const restarted = gateway(store)
    const found = await restarted.find(crashed.id)
    expect(found?.state).toBe('interrupted')
    expect(found?.eventCount).toBe(3)
    const last = found?.event(3).toString('utf8') ?? ''
    expect(last).toMatch(/^id: 3\ndata: \{"error":\{/)
    expect(JSON.parse(last.slice(last.indexOf('{')))).toMatchObject({ error: { type: 'api_error' } })
    expect((await store.head(`/generations/${crashed.id}`))?.closed).toBe(true)
    // Read again (another process, or after eviction): the same, the error event once.
    const again = await gateway(store).find(crashed.id)
    expect(again?.eventsAfter(0).equals(found?.eventsAfter(0) as Buffer)).toBe(true)
  })

  it('another live node’s running generation is a replica that follows the store, and cancels through its owner', async () => {
    const store = new MemoryStreamStore()
    const { node } = cluster()
    const a = gateway(store, node())
    const b = gateway(store, node())
    const running = a.create(testGenerationOptions)
    running.relay([chunk('x')])
    await running.reached(1)
    const replica = (await b.find(running.id)) as Generation
    expect(replica.isReplica).toBe(true)
    expect(replica.state).toBe('streaming')
    expect(replica.text()).toBe('x')
    running.relay([chunk('y'), chunk('z')])
    await Promise.all([replica.reached(3), running.reached(3)])
    expect(replica.eventsAfter(0).equals(running.eventsAfter(0))).toBe(true)
    replica.cancel('by request')
    await settled(running)
    expect(running.state).toBe('cancelled')
    await settled(replica)
    expect(replica.state).toBe('cancelled')
    expect(replica.text()).toBe('xyz')
  })

  it('a replica whose owner dies is interrupted by the node that notices', async () => {
    const store = new MemoryStreamStore()
    const { node, kill } = cluster()
    const ownerNodes = node()
    const running = gateway(store, ownerNodes).create(testGenerationOptions)
    running.relay([chunk('x')])
    await running.reached(1)
    const replica = (await gateway(store, node()).find(running.id)) as Generation
    kill(ownerNodes)
    await settled(replica)
    expect(replica.state).toBe('interrupted')
    expect(replica.eventCount).toBe(2)
  }, 10_000)

  it('a store that refuses a batch fails the generation and drops the upstream; nothing more is sent', async () => {
    const store = new MemoryStreamStore()
    const generations = gateway(store)
    const generation = generations.create(testGenerationOptions)
    generation.relay([chunk('a')])
    await generation.reached(1)
    await store.delete(`/generations/${generation.id}`)
    generation.relay([chunk('b')])
    await settled(generation)
    expect(generation.state).toBe('failed')
    expect(generation.error).toMatch(/could not store the answer/)
    expect(generation.upstream.signal.aborted).toBe(true)
    expect(generation.eventCount).toBe(1)
  })

  it('a shutdown ends running generations as interrupted, stored', async () => {
    const store = new MemoryStreamStore()
    const generations = gateway(store)
    const generation = generations.create(testGenerationOptions)
    generation.relay([chunk('a')])
    await generations.interruptAll('the gateway shut down')
    expect(generation.state).toBe('interrupted')
    const found = await gateway(store).find(generation.id)
    expect(found?.state).toBe('interrupted')
    expect(found?.eventsAfter(0).equals(generation.eventsAfter(0))).toBe(true)
    expect(found?.eventCount).toBe(2)
  })
})
