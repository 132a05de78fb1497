// A client node in its own process, for test/integration/node-resume.test.ts (issue 12): it
// connects to STT_TARGET with STT_NODE_SEED, prints {"event":"token","id":..,"token":hex} as
// soon as the server's resumption ticket arrives, then keeps the session open until it is
// killed (SIGKILL: no SESSION_CLOSE, nothing flushed). Runs the built library (dist/).
import { STTNode } from '../../dist/index.js'

const node = new STTNode({ host: '127.0.0.1', port: 0, sharedSeed: process.env.STT_SEED, nodeSeed: process.env.STT_NODE_SEED, name: 'child' })
await node.start()
const session = await node.connect(process.env.STT_TARGET)
const report = (token) => process.stdout.write(`${JSON.stringify({ event: 'token', id: session.id, token: token.toString('hex') })}\n`)
if (session.resumptionToken) report(session.resumptionToken)
else session.once('resumption-token', report)
setInterval(() => session.sendDatagram(Buffer.from('alive')), 100)
