// better-sse channels: a widely used SSE library for Node.
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { createChannel, createSession } from 'better-sse'

const channel = createChannel()
const server = createServer(async (request, response) => {
  if (request.method === 'POST') {
    let body = ''
    request.on('data', (chunk) => {
      body += chunk
    })
    request.on('end', () => {
      channel.broadcast(body)
      response.end('ok')
    })
    return
  }
  const session = await createSession(request, response, { keepAlive: null })
  channel.register(session)
})
server.listen(0, '127.0.0.1', () =>
  console.log(JSON.stringify({ port: (server.address() as AddressInfo).port })),
)
