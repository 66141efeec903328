import { randomUUID } from 'node:crypto'

export type ViewerChange = 'joined' | 'left'

/** What a node is asked about one of the generations it runs, by another node. */
export interface GenerationControl {
  type: 'cancel' | ViewerChange
  id: string
}

/**
 * The gateway nodes that run generations: which are alive (a generation whose node is gone is
 * interrupted), and the messages a node sends the one that runs a generation (cancel it; a viewer
 * of it joined or left here, which its resume grace counts).
 */
export interface GenerationNodes {
  /** This node: random per process, so a restarted gateway is another node. */
  readonly id: string
  isAlive(node: string): Promise<boolean>
  requestCancel(generationId: string): Promise<void>
  announce(generationId: string, change: ViewerChange): void
  /** Control messages for the generations this node runs. */
  onControl(handler: (control: GenerationControl) => void): void
  close(): Promise<void>
}

/**
 * One gateway process on its own store (memory, sqlite): it runs every generation that is still
 * running, so a running generation of another node id was left by a process that is gone.
 */
export class LocalNodes implements GenerationNodes {
  readonly id = randomUUID()

  async isAlive(node: string): Promise<boolean> {
    return node === this.id
  }

  async requestCancel(): Promise<void> {}

  announce(): void {}

  onControl(): void {}

  async close(): Promise<void> {}
}
