import { fetchEventStream } from '/web/client/index.js'
import { renderMarkdown } from '/web/markdown.js'

// The conversation and the answer in progress live in sessionStorage: a reload resumes the
// generation from the last event id seen, so nothing is lost or shown twice.
const STORAGE = 'streamgate-chat'
const messagesList = document.getElementById('messages')
const form = document.getElementById('composer')
const prompt = document.getElementById('prompt')
const sendButton = document.getElementById('send')
const stopButton = document.getElementById('stop')
const modelSelect = document.getElementById('model')
const keyInput = document.getElementById('api-key')

const state = load()
let running // { controller, generationId }

function load() {
  try {
    return JSON.parse(sessionStorage.getItem(STORAGE)) ?? { messages: [], pending: null }
  } catch {
    return { messages: [], pending: null }
  }
}

function save() {
  sessionStorage.setItem(STORAGE, JSON.stringify(state))
}

function headers() {
  const key = keyInput.value || localStorage.getItem('streamgate-key') || ''
  return key ? { authorization: `Bearer ${key}` } : {}
}

function renderMessage(message, { streaming = false, status = '' } = {}) {
  const item = document.createElement('li')
  item.className = `message ${message.role}${streaming ? ' streaming' : ''}`
  const role = document.createElement('span')
  role.className = 'role'
  role.textContent = message.role === 'user' ? 'You' : 'Assistant'
  const content = document.createElement('div')
  content.className = 'content'
  if (message.role === 'user') content.textContent = message.content
  else renderMarkdown(content, message.content)
  const note = document.createElement('span')
  note.className = 'status'
  note.textContent = status
  item.append(role, content, note)
  messagesList.append(item)
  return { item, content, note }
}

function renderAll() {
  messagesList.replaceChildren()
  for (const message of state.messages) renderMessage(message)
}

function setRunning(isRunning) {
  sendButton.disabled = isRunning
  stopButton.disabled = !isRunning
}

/** Streams an answer: a new generation (POST) or the rest of one after a reload (GET …/stream). */
async function stream(pending, request) {
  const view = renderMessage({ role: 'assistant', content: pending.text }, { streaming: true })
  const controller = new AbortController()
  running = { controller, pending }
  setRunning(true)
  let frame = 0
  const paint = () => {
    frame = 0
    renderMarkdown(view.content, pending.text)
  }
  let outcome = 'done'
  const resume = () =>
    fetchEventStream(`/v1/generations/${pending.generationId}/stream`, {
      headers: headers(),
      lastEventId: pending.lastEventId,
      signal: controller.signal,
    })
  /**
   * Shows the events as they come; true once the answer's end (`[DONE]`) is seen, false when the
   * stream ended or (`breakable`) its connection broke before it.
   */
  const show = async (events, breakable = false) => {
    try {
      for await (const event of events) {
        if (event.data === '[DONE]') return true
        const chunk = JSON.parse(event.data)
        if (chunk.error) throw Object.assign(new Error(chunk.error.message), { answered: true })
        pending.text += chunk.choices?.[0]?.delta?.content ?? ''
        pending.lastEventId = event.lastEventId
        save()
        frame ||= requestAnimationFrame(paint)
      }
    } catch (error) {
      if (!breakable || error.answered || controller.signal.aborted || !pending.generationId) throw error
    }
    return false
  }
  try {
    const ended = await show(
      request
        ? fetchEventStream('/v1/chat/completions', {
            method: 'POST',
            headers: { 'content-type': 'application/json', ...headers() },
            body: JSON.stringify(request),
            signal: controller.signal,
            reconnect: false,
            onOpen: (response) => {
              pending.generationId = response.headers.get('streamgate-generation-id')
              save()
            },
          })
        : resume(),
      true,
    )
    // The connection broke before the end (the gateway restarted, say): the rest of the answer
    // from the last event seen, once the gateway is back (the generation is stored).
    if (!ended && request && pending.generationId && !controller.signal.aborted) await show(resume())
    if (controller.signal.aborted) outcome = 'stopped'
  } catch (error) {
    outcome = controller.signal.aborted ? 'stopped' : `error: ${error.message}`
  } finally {
    cancelAnimationFrame(frame)
    paint()
    view.item.classList.remove('streaming')
    view.note.textContent =
      outcome === 'done' ? '' : outcome === 'stopped' ? 'Stopped.' : `Failed (${outcome.slice(7)}).`
    state.messages.push({ role: 'assistant', content: pending.text })
    state.pending = null
    save()
    running = undefined
    setRunning(false)
    prompt.focus()
  }
}

form.addEventListener('submit', (event) => {
  event.preventDefault()
  const text = prompt.value.trim()
  if (!text || running) return
  prompt.value = ''
  const message = { role: 'user', content: text }
  state.messages.push(message)
  renderMessage(message)
  state.pending = { generationId: null, lastEventId: '', text: '' }
  save()
  stream(state.pending, {
    model: modelSelect.value,
    stream: true,
    messages: state.messages.map(({ role, content }) => ({ role, content })),
  }).catch(console.error)
})

prompt.addEventListener('keydown', (event) => {
  if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
    event.preventDefault()
    form.requestSubmit()
  }
})

stopButton.addEventListener('click', () => {
  if (!running) return
  const { controller, pending } = running
  controller.abort()
  // Cancel the generation itself, so that the upstream stops too (not only this tab's connection).
  if (pending.generationId) {
    // The answer stops here either way; a failed cancel leaves the upstream to its resume grace.
    fetch(`/v1/generations/${pending.generationId}/cancel`, { method: 'POST', headers: headers() }).catch(
      console.error,
    )
  }
})

document.getElementById('clear').addEventListener('click', () => {
  if (running) stopButton.click()
  state.messages = []
  state.pending = null
  save()
  renderAll()
  prompt.focus()
})

keyInput.addEventListener('change', () => {
  localStorage.setItem('streamgate-key', keyInput.value)
  loadModels().catch(console.error)
})

async function loadModels() {
  const response = await fetch('/v1/models', { headers: headers() }).catch(() => undefined)
  if (!response?.ok) return
  const { data } = await response.json()
  modelSelect.replaceChildren(...data.map((model) => new Option(model.id, model.id)))
}

async function init() {
  renderAll()
  const info = await (await fetch('/api/info')).json()
  document.getElementById('upstream').textContent = info.upstreams.openai
  document.getElementById('key-row').hidden = !info.keyRequired
  keyInput.value = localStorage.getItem('streamgate-key') ?? ''
  await loadModels()
  // A reload in the middle of an answer: continue it from the last event seen.
  if (state.pending?.generationId) await stream(state.pending)
  else if (state.pending) {
    state.pending = null
    save()
  }
}

init().catch(console.error)
