import { connect } from 'node:net'

export interface RawResponse {
  status: number
  /** The status line and header lines, without the blank line that ends them. */
  head: string
  /** The body decoded from its framing (chunked, Content-Length or close-delimited), as UTF-8. */
  body: string
  /** Whether the response was complete (its last chunk, or all its Content-Length bytes, arrived). */
  complete: boolean
}

/**
 * Splits raw bytes into HTTP/1.1 responses, strictly: each must start with a status line and, when
 * chunked, frame every chunk exactly (hex size, CRLF, bytes, CRLF). Anything else throws, as a
 * byte that reached the socket out of order would. A response cut off by `bytes` ending comes last,
 * with `complete: false`.
 */
export function parseResponses(bytes: Buffer): RawResponse[] {
  const text = bytes.toString('latin1')
  const responses: RawResponse[] = []
  let at = 0
  while (at < text.length) {
    const headEnd = text.indexOf('\r\n\r\n', at)
    const head = text.slice(at, headEnd < 0 ? undefined : headEnd)
    const status = /^HTTP\/1\.1 (\d{3}) /.exec(head)
    if (status === null)
      throw new Error(`not a status line at byte ${at}: ${JSON.stringify(head.slice(0, 40))}`)
    if (headEnd < 0) throw new Error('the header block never ended')
    at = headEnd + 4
    let body = ''
    let complete = false
    if (/\r\ntransfer-encoding: chunked/i.test(head)) {
      for (;;) {
        const lineEnd = text.indexOf('\r\n', at)
        if (lineEnd < 0) break
        const size = text.slice(at, lineEnd)
        if (!/^[0-9a-f]+$/i.test(size)) throw new Error(`bad chunk size ${JSON.stringify(size.slice(0, 40))}`)
        const length = Number.parseInt(size, 16)
        if (length === 0) {
          if (text.slice(lineEnd + 2, lineEnd + 4) === '\r\n') {
            at = lineEnd + 4
            complete = true
          } else at = text.length
          break
        }
        if (lineEnd + 2 + length + 2 > text.length) {
          body += text.slice(lineEnd + 2, lineEnd + 2 + length)
          at = text.length
          break
        }
        body += text.slice(lineEnd + 2, lineEnd + 2 + length)
        at = lineEnd + 2 + length
        if (text.slice(at, at + 2) !== '\r\n') throw new Error(`no CRLF after a chunk at byte ${at}`)
        at += 2
      }
      if (!complete && at < text.length) at = text.length
    } else {
      const declared = /\r\ncontent-length: (\d+)/i.exec(head)?.[1]
      const length = declared === undefined ? text.length - at : Number(declared)
      body = text.slice(at, at + length)
      complete = declared !== undefined && at + length <= text.length
      at += length
    }
    responses.push({
      status: Number(status[1]),
      head,
      body: Buffer.from(body, 'latin1').toString(),
      complete,
    })
  }
  return responses
}

/**
 * Writes `request` (raw bytes) to the server of `url` and collects what comes back until the
 * server closes the connection, or `enough` says the responses so far suffice (the connection is
 * then closed), or 10 s pass.
 */
export function rawExchange(
  url: string,
  request: string,
  options: { enough?: (responses: RawResponse[]) => boolean; pauseMs?: number } = {},
): Promise<RawResponse[]> {
  const { hostname, port } = new URL(url)
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => socket.write(request))
    const received: Buffer[] = []
    const finish = () => {
      clearTimeout(timer)
      socket.destroy()
      try {
        resolve(parseResponses(Buffer.concat(received)))
      } catch (error) {
        reject(error)
      }
    }
    const timer = setTimeout(finish, 10_000)
    if (options.pauseMs !== undefined) {
      socket.pause()
      setTimeout(() => socket.resume(), options.pauseMs)
    }
    socket.on('data', (chunk) => {
      received.push(chunk)
      if (options.enough === undefined) return
      try {
        if (options.enough(parseResponses(Buffer.concat(received)))) finish()
      } catch (error) {
        clearTimeout(timer)
        socket.destroy()
        reject(error)
      }
    })
    socket.on('end', finish)
    socket.on('error', (error) => {
      clearTimeout(timer)
      reject(error)
    })
  })
}

/** A GET request's bytes. */
export const rawGet = (path: string, headers: Record<string, string> = {}, version = '1.1') =>
  `GET ${path} HTTP/${version}\r\nHost: test\r\n${Object.entries(headers)
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join('')}\r\n`
