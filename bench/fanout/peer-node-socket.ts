// Experiment: pre-framed chunk bytes written straight to each socket.
import { createServer, type ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'

const subscribers = new Set<Socket>()
const server = createServer((request, response: ServerResponse) => {
  if (request.method === 'POST') {
    let body = ''
    request.on('data', (chunk) => {
      body += chunk
    })
    request.on('end', () => {
      const data = Buffer.from(`data: ${body}\n\n`)
      const frame = Buffer.concat([Buffer.from(`${data.length.toString(16)}\r\n`), data, Buffer.from('\r\n')])
      for (const socket of subscribers) socket.write(frame)
      response.end('ok')
    })
    return
  }
  response.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' })
  response.write(': ok\n\n')
  const socket = response.socket as Socket
  subscribers.add(socket)
  request.on('close', () => subscribers.delete(socket))
})
server.listen(0, '127.0.0.1', () =>
  console.log(JSON.stringify({ port: (server.address() as AddressInfo).port })),
)
