/**
 * Idempotent producers (Durable Streams PROTOCOL.md §5.2.1): a producer names itself, declares an
 * epoch (bumped when it restarts) and numbers its requests within the epoch from 0. The server
 * fences older epochs, answers a request it has seen as a duplicate, and refuses a gap. Pure: the
 * stores decide with it inside the step that also appends, and keep the new state only if the
 * append happens.
 */
export interface ProducerState {
  epoch: number
  /** The highest request number accepted in this epoch. */
  lastSeq: number
}

export interface ProducerRequest {
  id: string
  epoch: number
  seq: number
}

export type ProducerDecision =
  | { kind: 'accept'; next: ProducerState }
  | { kind: 'duplicate'; state: ProducerState }
  /** 403: a newer epoch holds the producer id (a zombie is fenced). */
  | { kind: 'stale-epoch'; epoch: number }
  /** 400: a new epoch starts at request 0. */
  | { kind: 'epoch-must-start-at-zero' }
  /** 409: requests in between are missing. */
  | { kind: 'gap'; expected: number; received: number }

export function decideProducer(state: ProducerState | undefined, request: ProducerRequest): ProducerDecision {
  const { epoch, seq } = request
  if (state === undefined) {
    return seq === 0
      ? { kind: 'accept', next: { epoch, lastSeq: 0 } }
      : { kind: 'gap', expected: 0, received: seq }
  }
  if (epoch < state.epoch) return { kind: 'stale-epoch', epoch: state.epoch }
  if (epoch > state.epoch) {
    return seq === 0 ? { kind: 'accept', next: { epoch, lastSeq: 0 } } : { kind: 'epoch-must-start-at-zero' }
  }
  if (seq <= state.lastSeq) return { kind: 'duplicate', state }
  if (seq === state.lastSeq + 1) return { kind: 'accept', next: { epoch, lastSeq: seq } }
  return { kind: 'gap', expected: state.lastSeq + 1, received: seq }
}
