/** The media type without parameters, lower-cased: what stream content types are compared by. */
export function mediaType(contentType: string): string {
  return (contentType.split(';')[0] ?? '').trim().toLowerCase()
}

export const isJson = (contentType: string) => mediaType(contentType) === 'application/json'

/** SSE carries `text/*` and JSON as text; any other stream's bytes go base64 (PROTOCOL.md §5.8). */
export const isText = (contentType: string) => {
  const type = mediaType(contentType)
  return type.startsWith('text/') || type === 'application/json'
}
