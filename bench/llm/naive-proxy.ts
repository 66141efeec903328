// The naive pass-through of the LLM benchmark: what a few lines of node:http do — forward the
// request with the upstream key, pipe the answer back. No ids, no resume, no accounting.
import { createServer, request as httpRequest } from 'node:http'
import type { AddressInfo } from 'node:net'

const upstream = new URL(String(process.env.LLM_UPSTREAM))
const key = String(process.env.LLM_UPSTREAM_KEY)
const server = createServer((request, response) => {
  const proxied = httpRequest(
    `${upstream.href.replace(/\/$/, '')}${String(request.url).replace(/^\/v1/, '')}`,
    {
      method: request.method,
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    },
    (answer) => {
      response.writeHead(answer.statusCode ?? 502, { 'content-type': String(answer.headers['content-type']) })
      answer.pipe(response)
    },
  )
  response.on('close', () => proxied.destroy())
  request.pipe(proxied)
})
server.listen(0, '127.0.0.1', () =>
  console.log(JSON.stringify({ port: (server.address() as AddressInfo).port })),
)
