// The dashboard reads its own numbers over SSE: a `history` event with the last two minutes,
// then a `sample` event every second.
const samples = []
const KEPT = 120
const number = new Intl.NumberFormat('en')

function show(sample) {
  document.getElementById('connections').textContent = number.format(sample.connections)
  document.getElementById('subscribers').textContent = number.format(sample.subscribers)
  document.getElementById('updates').textContent = number.format(sample.updatesPerSecond)
  document.getElementById('deliveries').textContent = number.format(sample.deliveriesPerSecond)
  document.getElementById('generations').textContent = number.format(sample.activeGenerations)
  document.getElementById('streams').textContent = number.format(sample.durableStreams)
  document.getElementById('stream-readers').textContent = number.format(sample.streamReaders)
  const rows = Object.entries(sample.subscribersPerTopic).map(([topic, count]) => {
    const row = document.createElement('tr')
    const name = document.createElement('td')
    name.textContent = topic
    const value = document.createElement('td')
    value.className = 'number'
    value.textContent = number.format(count)
    row.append(name, value)
    return row
  })
  const body = document.getElementById('topics')
  if (rows.length > 0) body.replaceChildren(...rows)
  else body.innerHTML = '<tr><td colspan="2" class="muted">none</td></tr>'
  drawChart()
}

function line(values, color) {
  const max = Math.max(1, ...values)
  const step = 600 / (KEPT - 1)
  const offset = KEPT - values.length
  const points = values.map(
    (value, index) => `${((offset + index) * step).toFixed(1)},${(150 - (value / max) * 140).toFixed(1)}`,
  )
  const polyline = document.createElementNS('http://www.w3.org/2000/svg', 'polyline')
  polyline.setAttribute('points', points.join(' '))
  polyline.setAttribute('fill', 'none')
  polyline.setAttribute('stroke', color)
  polyline.setAttribute('stroke-width', '2')
  polyline.setAttribute('vector-effect', 'non-scaling-stroke')
  return polyline
}

function drawChart() {
  const chart = document.getElementById('chart')
  chart.replaceChildren(
    line(
      samples.map((sample) => sample.connections),
      '#1f5fd6',
    ),
    line(
      samples.map((sample) => sample.deliveriesPerSecond),
      '#16794a',
    ),
  )
}

function add(sample) {
  samples.push(sample)
  if (samples.length > KEPT) samples.shift()
  show(sample)
}

const source = new EventSource('/api/stats/stream')
const status = document.getElementById('status')
source.addEventListener('open', () => {
  status.textContent = 'live'
})
source.addEventListener('error', () => {
  status.textContent = source.readyState === EventSource.CONNECTING ? 'reconnecting' : 'closed'
})
source.addEventListener('history', (event) => {
  samples.length = 0
  const history = JSON.parse(event.data)
  for (const sample of history) add(sample)
})
source.addEventListener('sample', (event) => add(JSON.parse(event.data)))
