declare module 'qrcode-terminal' {
  export function generate(text: string, opts?: { small?: boolean }, cb?: (qr: string) => void): void
  export function setErrorLevel(level: 'L' | 'M' | 'Q' | 'H'): void
  const _default: { generate: typeof generate; setErrorLevel: typeof setErrorLevel }
  export default _default
}
