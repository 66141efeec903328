// The floor of Node overhead: a bare node:http server writing each update to every response.
import { createServer, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

const subscribers = new Set<ServerResponse>()
const server = createServer((request, response) => {
  if (request.method === 'POST') {
    let body = ''
    request.on('data', (chunk) => {
      body += chunk
    })
    request.on('end', () => {
      const frame = `data: ${body}\n\n`
      for (const subscriber of subscribers) subscriber.write(frame)
      response.end('ok')
    })
    return
  }
  response.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' })
  response.write(': ok\n\n')
  subscribers.add(response)
  request.on('close', () => subscribers.delete(response))
})
server.listen(0, '127.0.0.1', () =>
  console.log(JSON.stringify({ port: (server.address() as AddressInfo).port })),
)
