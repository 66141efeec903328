import type { ServerResponse } from 'node:http'

/** Waits for 'drain' or 'close', removing both listeners after: a race of two `once`s leaks one. */
export function drainedOrClosed(response: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      response.off('drain', done)
      response.off('close', done)
      resolve()
    }
    response.on('drain', done)
    response.on('close', done)
  })
}
