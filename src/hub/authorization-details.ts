import { invalidToken } from './authorization-error.js'
import { exactSelector, SelectorError, type TopicSelector, urlPatternSelector } from './topic-selector.js'

/**
 * The `authorization_details` claim (RFC 9396) of the current Mercure specification: entries of
 * type `mercure` (or the URI `https://mercure.rocks/authorization-detail` of earlier drafts), each
 * with `actions` (a non-empty subset of `publish`, `subscribe`) and `topics`, a non-empty list of
 * topic matchers (`{"match": …, "matchType": "Exact" | "URLPattern"}`, `*` for every topic; earlier
 * drafts' `locations` of strings too). Entries of other types are someone else's and are left
 * alone. An entry of a Mercure type that does not parse makes the whole token invalid: acting on
 * the other entries would silently change what the token grants.
 */
export interface Grants {
  publish: TopicSelector[]
  subscribe: TopicSelector[]
  /** The `payload` of the first entry granting `subscribe` that has one. */
  payload: unknown
}

const MERCURE_TYPES = new Set(['mercure', 'https://mercure.rocks/authorization-detail'])
const ACTIONS = new Set(['publish', 'subscribe'])
/** Bounds of one token's grants: far beyond any use, and what bounds its cost to the hub. */
export const MAX_DETAILS = 64
export const MAX_TOPICS = 1024
export const MAX_PATTERN_LENGTH = 2048

export function grantsOf(details: unknown): Grants {
  const grants: Grants = { publish: [], subscribe: [], payload: undefined }
  if (details === undefined) return grants
  if (!Array.isArray(details)) throw invalid('authorization_details is not an array')
  let mercure = 0
  for (const [index, detail] of details.entries()) {
    if (typeof detail !== 'object' || detail === null)
      throw invalid(`authorization_details[${index}] is not an object`)
    const { type, actions, payload } = detail as Record<string, unknown>
    if (typeof type !== 'string' || !MERCURE_TYPES.has(type)) continue
    if (++mercure > MAX_DETAILS) throw invalid(`more than ${MAX_DETAILS} mercure authorization details`)
    const at = `authorization_details[${index}]`
    if (!Array.isArray(actions) || actions.length === 0 || !actions.every((action) => ACTIONS.has(action)))
      throw invalid(`${at}.actions must be a non-empty list of "publish" and "subscribe"`)
    const selectors = matchersOf(detail as Record<string, unknown>, at)
    if (actions.includes('publish')) grants.publish.push(...selectors)
    if (actions.includes('subscribe')) {
      grants.subscribe.push(...selectors)
      if (payload !== undefined && grants.payload === undefined) {
        if (typeof payload !== 'object' || payload === null || Array.isArray(payload))
          throw invalid(`${at}.payload must be an object`)
        grants.payload = payload
      }
    }
  }
  return grants
}

function matchersOf(detail: Record<string, unknown>, at: string): TopicSelector[] {
  const list = detail.topics ?? detail.locations
  if (!Array.isArray(list) || list.length === 0) throw invalid(`${at}.topics must be a non-empty list`)
  if (list.length > MAX_TOPICS) throw invalid(`${at}.topics has more than ${MAX_TOPICS} matchers`)
  return list.map((entry, index) => {
    const matcher = typeof entry === 'string' ? { match: entry } : (entry as Record<string, unknown> | null)
    const match = matcher?.match
    if (typeof match !== 'string' || match === '')
      throw invalid(`${at}.topics[${index}].match must be a string`)
    if (match.length > MAX_PATTERN_LENGTH)
      throw invalid(`${at}.topics[${index}].match is longer than ${MAX_PATTERN_LENGTH} characters`)
    const type = matcher?.matchType ?? 'Exact'
    try {
      if (type === 'Exact' || type === 'exact') return exactSelector(match)
      if (type === 'URLPattern' || type === 'urlpattern') return urlPatternSelector(match)
    } catch (error) {
      if (error instanceof SelectorError) throw invalid(`${at}.topics[${index}]: ${error.message}`)
      throw error
    }
    throw invalid(`${at}.topics[${index}].matchType must be "Exact" or "URLPattern"`)
  })
}

const invalid = (reason: string) => invalidToken(`the token is invalid: ${reason}`)
