/** The start page until the web pages (issue #7) arrive: what is served and how to try it. */
export const indexPage = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>streamgate</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem;color:#1a1a1a}code{background:#f2f2f2;padding:0 .2em}</style>
</head>
<body>
<h1>streamgate</h1>
<p>Server-Sent Events gateway. Endpoints:</p>
<ul>
<li><a href="/stream"><code>/stream</code></a> — the demo stream: <code>start</code>, ten messages, <code>end</code>
(<code>?interval=</code> ms, <code>?count=</code>; resumes after <code>Last-Event-ID</code>).</li>
<li><a href="/healthz"><code>/healthz</code></a> — health and open streams.</li>
</ul>
<p>In a terminal: <code>./bin/streamgate listen http://localhost:8080/stream</code></p>
</body>
</html>
`
