import type { MachineConfigView } from '../config/index.js';
import { MACHINE_CONFIG_ID, MachineConfigType } from '../resources/index.js';
import { inputOf, ptr, type ControllerInput, type ControllerReader } from '../runtime/index.js';

/** The MachineConfig input every config-derived controller declares. */
export function machineConfigInput(): ControllerInput {
  return inputOf(MachineConfigType, { id: MACHINE_CONFIG_ID });
}

/**
 * What kubeprism reads from the machine config in force; undefined when there is none. The view was
 * interpreted once, when the config was applied, and travels with the resource: nothing re-reads documents.
 */
export async function readMachineConfig(reader: ControllerReader): Promise<MachineConfigView | undefined> {
  const mc = await reader.find(ptr(MachineConfigType, MACHINE_CONFIG_ID));
  if (!mc || mc.metadata.phase === 'tearingDown') return undefined;
  return mc.spec.view;
}
