import type { NewUpdate, StoredUpdate } from '../update.js'

/** Where to resume: after an update id, or from the oldest update still kept. */
export type ResumePoint = { after: string } | 'earliest'

export interface HistoryPage {
  /** False when the id is not (or no longer) in the history: the page then starts at the earliest update. */
  known: boolean
  updates: StoredUpdate[]
  /** The sequence of the last update examined: read on from here. */
  through: number
  /** No update after `through` was kept when the page was read. */
  done: boolean
}

/**
 * The update log behind a hub (DESIGN §3): one global, monotonic order per store, acknowledged only
 * after commit. Implemented by memory, sqlite and redis.
 */
export interface UpdateStore {
  /** Assigns the id (unless given) and the sequence; resolves once committed. Rejects a duplicate id. */
  append(update: NewUpdate): Promise<StoredUpdate>
  /**
   * Of the next `limit` updates after the resume point in global order, those that `matches`
   * accepts: a page costs `limit` matches at most, however few match, so a reader can yield between
   * pages. Reads on from `afterSequence` when given (a later page).
   */
  readAfter(
    from: ResumePoint,
    matches: (update: StoredUpdate) => boolean,
    limit: number,
    afterSequence?: number,
  ): Promise<HistoryPage>
  /** The newest committed sequence (0 when empty). */
  newestSequence(): Promise<number>
  /** The id of the newest update kept, if any. */
  newestId(): Promise<string | undefined>
  /** Drops updates beyond the bounds (the count bound counts no presence update); returns how many went. */
  trim(bounds: HistoryBounds): Promise<number>
  /** Every update appended on any node, in global order, after commit. Returns an unsubscribe. */
  onAppend(listener: (update: StoredUpdate) => void): () => void
  close(): Promise<void>
}

/** Presence updates kept for resuming, newest first (`--presence-history`). */
export const DEFAULT_PRESENCE_HISTORY = 1000

export interface HistoryBounds {
  maxCount: number
  /** Milliseconds. */
  maxAge: number
}

export class DuplicateIdError extends Error {
  readonly code = 'SG_ERR_DUPLICATE_ID'

  constructor(id: string) {
    super(`the update id ${JSON.stringify(id)} is already used`)
    this.name = 'DuplicateIdError'
  }
}

/**
 * The store cannot be reached (Redis down). Either nothing was sent (`stored: false`), or the
 * command was sent and no answer came (`stored: 'unknown'`: Redis may have run it before the
 * connection closed). The message says which, and for the second names the id: a publisher that
 * publishes again with that id is told `SG_ERR_DUPLICATE_ID` if the first one was stored.
 */
export class StoreUnavailableError extends Error {
  readonly code = 'SG_ERR_STORE_UNAVAILABLE'
  readonly status = 503

  constructor(
    reason: string,
    readonly stored: false | 'unknown' = false,
    id?: string,
  ) {
    super(
      stored === false
        ? `the update store is unavailable (${reason}); nothing was stored, try again shortly`
        : `the update store did not confirm the update ${JSON.stringify(id)} (${reason}); it may have been stored: publish it again with the same id, and SG_ERR_DUPLICATE_ID then means it was`,
    )
    this.name = 'StoreUnavailableError'
  }
}

/**
 * The sequence to read after: a later page's `afterSequence`, else the resume point's id looked up
 * (unknown: from the start, and said so), else the start.
 */
export function resolveResumePoint(
  from: ResumePoint,
  afterSequence: number | undefined,
  sequenceOf: (id: string) => number | undefined,
): { known: boolean; after: number } {
  if (afterSequence !== undefined) return { known: true, after: afterSequence }
  if (from === 'earliest') return { known: true, after: 0 }
  const sequence = sequenceOf(from.after)
  return sequence === undefined ? { known: false, after: 0 } : { known: true, after: sequence }
}

/** Mercure ids are IRIs; the hub makes URNs. */
export function newUpdateId(): string {
  return newUrn()
}

/**
 * `urn:uuid:<random UUID>`, as one flat string. Node builds a UUID by concatenating 20 pieces, a
 * rope of 540 bytes that V8 keeps until something reads a character; an id is kept for as long as
 * its subscriber is connected or its update is in history (measured: 543 → 64 bytes per id).
 */
export function newUrn(): string {
  const urn = `urn:uuid:${crypto.randomUUID()}`
  // Reading a character flattens the rope in place.
  urn.charCodeAt(0)
  return urn
}
