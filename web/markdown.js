// A small Markdown renderer for model output that builds DOM nodes and sets text with textContent
// only: whatever the model writes (<script>, <img onerror>, javascript: links) stays text. Covers
// what chat answers use: paragraphs, headings, fenced code, lists, quotes, **bold**, *italic*,
// `code` and [links](https://…) (http and https only).

/** Renders `markdown` into `container`, replacing its children. */
export function renderMarkdown(container, markdown) {
  const fragment = document.createDocumentFragment()
  const lines = markdown.replace(/\r\n?/g, '\n').split('\n')
  let index = 0
  while (index < lines.length) {
    const line = lines[index]
    const fence = /^\s*(```|~~~)(.*)$/.exec(line)
    if (fence) {
      const code = []
      index++
      while (index < lines.length && !lines[index].trimStart().startsWith(fence[1])) code.push(lines[index++])
      index++
      const pre = document.createElement('pre')
      const element = document.createElement('code')
      if (fence[2].trim()) element.dataset.language = fence[2].trim()
      element.textContent = code.join('\n')
      pre.append(element)
      fragment.append(pre)
      continue
    }
    const heading = /^(#{1,6})\s+(.*)$/.exec(line)
    if (heading) {
      const element = document.createElement(`h${Math.min(6, heading[1].length + 2)}`)
      appendInline(element, heading[2])
      fragment.append(element)
      index++
      continue
    }
    const listItem = /^\s*([-*+]|\d+[.)])\s+/
    if (listItem.test(line)) {
      const ordered = /^\s*\d/.test(line)
      const list = document.createElement(ordered ? 'ol' : 'ul')
      while (index < lines.length && listItem.test(lines[index])) {
        const item = document.createElement('li')
        appendInline(item, lines[index].replace(listItem, ''))
        list.append(item)
        index++
      }
      fragment.append(list)
      continue
    }
    if (/^\s*>/.test(line)) {
      const quote = document.createElement('blockquote')
      const quoted = []
      while (index < lines.length && /^\s*>/.test(lines[index]))
        quoted.push(lines[index++].replace(/^\s*>\s?/, ''))
      appendInline(quote, quoted.join(' '))
      fragment.append(quote)
      continue
    }
    if (line.trim() === '') {
      index++
      continue
    }
    const paragraph = []
    while (
      index < lines.length &&
      lines[index].trim() !== '' &&
      !/^\s*(```|~~~|#{1,6}\s|>|[-*+]\s|\d+[.)]\s)/.test(lines[index])
    ) {
      paragraph.push(lines[index++])
    }
    if (paragraph.length === 0) paragraph.push(lines[index++])
    const element = document.createElement('p')
    appendInline(element, paragraph.join('\n'))
    fragment.append(element)
  }
  container.replaceChildren(fragment)
}

const INLINE =
  /(`+)([^`]+?)\1|\*\*([^*]+)\*\*|__([^_]+)__|\*([^*\s][^*]*)\*|_([^_\s][^_]*)_|\[([^\]]+)\]\(([^)\s]+)\)/g

function appendInline(parent, text) {
  let last = 0
  for (const match of text.matchAll(INLINE)) {
    if (match.index > last) appendText(parent, text.slice(last, match.index))
    if (match[2] !== undefined) parent.append(element('code', match[2]))
    else if (match[3] !== undefined || match[4] !== undefined)
      parent.append(element('strong', match[3] ?? match[4]))
    else if (match[5] !== undefined || match[6] !== undefined)
      parent.append(element('em', match[5] ?? match[6]))
    else parent.append(link(match[7], match[8]))
    last = match.index + match[0].length
  }
  if (last < text.length) appendText(parent, text.slice(last))
}

function appendText(parent, text) {
  const parts = text.split('\n')
  parts.forEach((part, index) => {
    if (index > 0) parent.append(document.createElement('br'))
    parent.append(document.createTextNode(part))
  })
}

function element(name, text) {
  const node = document.createElement(name)
  node.textContent = text
  return node
}

function link(text, href) {
  let url
  try {
    url = new URL(href, location.href)
  } catch {
    return document.createTextNode(`[${text}](${href})`)
  }
  // Only web links: javascript:, data: and the like stay text.
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    return document.createTextNode(`[${text}](${href})`)
  const anchor = element('a', text)
  anchor.href = url.href
  anchor.rel = 'noopener noreferrer nofollow'
  anchor.target = '_blank'
  return anchor
}
