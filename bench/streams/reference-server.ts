// The peer: @durable-streams/server, the protocol's reference server, in memory or on its file
// store (log files and LMDB) when STREAMS_DATA_DIR is set.
import { DurableStreamTestServer } from '@durable-streams/server'

const server = new DurableStreamTestServer({
  port: 0,
  host: '127.0.0.1',
  dataDir: process.env.STREAMS_DATA_DIR || undefined,
})
const url = await server.start()
console.log(JSON.stringify({ port: Number(new URL(url).port) }))
