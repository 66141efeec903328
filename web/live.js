import { fetchEventStream } from '/web/client/index.js'
import { sharedEventStream } from '/web/client/shared-event-stream.js'

const params = new URLSearchParams(location.search)
const interval = params.get('interval') ?? '1000'
const STATES = ['CONNECTING', 'OPEN', 'CLOSED']

function panel(id) {
  const root = document.getElementById(id)
  const log = root.querySelector('.log')
  const field = (name) => root.querySelector(`[data-field="${name}"]`)
  return {
    root,
    set(name, value) {
      const element = field(name)
      element.textContent = value
      if (name === 'state') element.className = `state-${value}`
    },
    add(type, data, id) {
      const item = document.createElement('li')
      const label = document.createElement('span')
      label.className = 'type'
      label.textContent = type
      item.append(label, ` ${data}${id ? `  #${id}` : ''}`)
      log.prepend(item)
      const count = field('count')
      if (count) count.textContent = String(Number(count.textContent) + 1)
    },
    clear() {
      log.replaceChildren()
      const count = field('count')
      if (count) count.textContent = '0'
    },
  }
}

// The browser's own EventSource, with named listeners; it closes itself on `end`.
const native = panel('native')
let source
function startNative() {
  source?.close()
  native.clear()
  source = new EventSource(`/stream?interval=${encodeURIComponent(interval)}`)
  const show = () => native.set('state', STATES[source.readyState])
  const onEvent = (event) => {
    native.add(event.type, event.data, event.lastEventId)
    native.set('last-id', event.lastEventId || '—')
    show()
  }
  source.addEventListener('open', show)
  source.addEventListener('error', show)
  source.addEventListener('start', onEvent)
  source.addEventListener('message', onEvent)
  source.addEventListener('end', (event) => {
    onEvent(event)
    source.close()
    show()
  })
  show()
}
native.root.querySelector('[data-action="restart"]').addEventListener('click', startNative)

// The fetch client: POST, and an async iterator; it stops when the server answers 204.
const viaFetch = panel('fetch')
let fetchController
async function startFetch() {
  fetchController?.abort()
  const controller = new AbortController()
  fetchController = controller
  viaFetch.clear()
  viaFetch.set('state', 'connecting')
  try {
    for await (const event of fetchEventStream(`/stream?interval=${encodeURIComponent(interval)}`, {
      method: 'POST',
      signal: controller.signal,
      onOpen: () => viaFetch.set('state', 'open'),
    })) {
      viaFetch.add(event.event ?? 'message', event.data, event.lastEventId)
      viaFetch.set('last-id', event.lastEventId || '—')
    }
    viaFetch.set('state', 'ended')
  } catch (error) {
    if (!controller.signal.aborted) viaFetch.set('state', `failed: ${error.message}`)
  }
}
viaFetch.root.querySelector('[data-action="restart"]').addEventListener('click', () => {
  startFetch().catch(console.error)
})

// A hub topic: a native EventSource (it reconnects by itself with Last-Event-ID), or with
// ?shared=1 one connection shared by every tab of this origin (streamgate/client/shared).
const hub = panel('hub')
const topicInput = document.getElementById('topic')
if (params.get('topic')) topicInput.value = params.get('topic')
let hubSource
let hubController
function subscribe() {
  hubSource?.close()
  hubController?.abort()
  hub.clear()
  const topic = topicInput.value.trim()
  const url = `/.well-known/mercure?topic=${encodeURIComponent(topic)}`
  document.getElementById('publish-command').textContent =
    `./bin/streamgate publish ${location.origin}/.well-known/mercure --topic '${topic}' --data hello --jwt-secret "$(cat .streamgate/secret)"`
  if (params.get('shared') === '1') {
    subscribeShared(url).catch(console.error)
    return
  }
  let reconnections = 0
  let opened = false
  hubSource = new EventSource(url)
  const show = () => hub.set('state', STATES[hubSource.readyState])
  hubSource.addEventListener('open', () => {
    if (opened) hub.set('reconnections', String(++reconnections))
    opened = true
    show()
  })
  hubSource.addEventListener('error', show)
  hubSource.addEventListener('message', (event) => {
    hub.add('message', event.data, event.lastEventId)
    hub.set('last-id', event.lastEventId)
  })
  show()
}

async function subscribeShared(url) {
  const controller = new AbortController()
  hubController = controller
  hub.set('state', 'shared')
  try {
    for await (const event of sharedEventStream(url, {
      signal: controller.signal,
      onRoleChange: (role) => hub.set('role', role),
    })) {
      hub.add(event.event ?? 'message', event.data, event.lastEventId)
      hub.set('last-id', event.lastEventId)
    }
  } catch (error) {
    if (!controller.signal.aborted) hub.set('state', `failed: ${error.message}`)
  }
}
hub.root.querySelector('[data-action="subscribe"]').addEventListener('click', subscribe)

startNative()
startFetch().catch(console.error)
subscribe()
