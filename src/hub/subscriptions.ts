import type { Hub } from './hub.js'
import { PublishError } from './publish-request.js'
import type { Subscriber } from './subscriber.js'
import { selectorMatches, selectorSource, type TopicSelector } from './topic-selector.js'

/** Where the hub publishes presence: `/.well-known/mercure/subscriptions/{topic}/{subscriber}`. */
export const SUBSCRIPTIONS_PATH = '/.well-known/mercure/subscriptions'

const CONTEXT = 'https://mercure.rocks/'

/** The id of one subscription (one selector of one subscriber): also the topic of its presence updates. */
export function subscriptionId(selector: TopicSelector, subscriber: Subscriber): string {
  return `${SUBSCRIPTIONS_PATH}/${encodeURIComponent(selectorSource(selector))}/${encodeURIComponent(subscriber.id)}`
}

export function subscriptionDocument(selector: TopicSelector, subscriber: Subscriber, active: boolean) {
  return {
    id: subscriptionId(selector, subscriber),
    type: 'Subscription',
    topic: selectorSource(selector),
    subscriber: subscriber.id,
    active,
    payload: subscriber.claimsPayload,
  }
}

/**
 * Presence: a private update per selector when a subscription starts and when it ends, on the
 * subscription's own topic, so that authorised subscribers (and history) see who is connected.
 */
export async function publishPresence(hub: Hub, subscriber: Subscriber, active: boolean): Promise<void> {
  for (const selector of subscriber.selectors) {
    const id = subscriptionId(selector, subscriber)
    await hub.publish({
      topics: [id],
      data: JSON.stringify({ '@context': CONTEXT, ...subscriptionDocument(selector, subscriber, active) }),
      private: true,
      presence: true,
    })
  }
}

/**
 * The active subscriptions API: `GET /.well-known/mercure/subscriptions[/{topic}[/{subscriber}]]`,
 * listing the subscriptions whose ids the caller's subscribe claim matches.
 */
export async function listSubscriptions(
  hub: Hub,
  path: string,
  allowed: readonly TopicSelector[],
): Promise<{ status: 200 | 404; document: unknown }> {
  const [topic, subscriberId] = path
    .slice(SUBSCRIPTIONS_PATH.length)
    .split('/')
    .filter(Boolean)
    .map(decodePathPart)
  const subscriptions = []
  for (const subscriber of hub.subscribers) {
    if (subscriber.stream === undefined || (subscriberId !== undefined && subscriber.id !== subscriberId))
      continue
    for (const selector of subscriber.selectors) {
      if (topic !== undefined && selectorSource(selector) !== topic) continue
      const id = subscriptionId(selector, subscriber)
      if (!allowed.some((claim) => selectorMatches(claim, id))) continue
      subscriptions.push(subscriptionDocument(selector, subscriber, true))
    }
  }
  if (subscriberId !== undefined) {
    return subscriptions[0] === undefined
      ? {
          status: 404,
          document: { error: { code: 'SG_ERR_NOT_FOUND', message: 'no such active subscription' } },
        }
      : { status: 200, document: { '@context': CONTEXT, ...subscriptions[0] } }
  }
  return {
    status: 200,
    document: {
      '@context': CONTEXT,
      id: path,
      type: 'Subscriptions',
      lastEventID: (await hub.store.newestId()) ?? 'earliest',
      subscriptions,
    },
  }
}

function decodePathPart(part: string): string {
  try {
    return decodeURIComponent(part)
  } catch {
    throw new PublishError(
      400,
      'SG_ERR_BAD_REQUEST',
      `the path part ${JSON.stringify(part)} is not valid percent-encoding`,
    )
  }
}
