import { machineConfigView, type MachineConfigView } from '../config/index.js';
import { MACHINE_CONFIG_ID, MachineConfigType } from '../resources/index.js';
import { inputOf, ptr, type ControllerInput, type ControllerReader } from '../runtime/index.js';

/** The MachineConfig input every config-derived controller declares. */
export function machineConfigInput(): ControllerInput {
  return inputOf(MachineConfigType, { id: MACHINE_CONFIG_ID });
}

/** What kubeprism reads from the machine config in force; undefined when there is none. */
export async function readMachineConfig(reader: ControllerReader): Promise<MachineConfigView | undefined> {
  const mc = await reader.find(ptr(MachineConfigType, MACHINE_CONFIG_ID));
  if (!mc || mc.metadata.phase === 'tearingDown') return undefined;
  // Stored documents passed validation on the way in; this cannot fail unless the store was bypassed.
  return machineConfigView(mc.spec.documents);
}
