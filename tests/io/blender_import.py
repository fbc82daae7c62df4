"""Runs inside Blender: import one .glb and print a JSON line (prefixed AVATAR_IMPORT) saying what Blender made.

Usage: blender --background --factory-startup --python tests/io/blender_import.py -- file.glb
"""

import json
import sys

import bpy

path = sys.argv[sys.argv.index("--") + 1]
bpy.ops.wm.read_factory_settings(use_empty=True)  # no default cube, camera or light to confuse the counts
bpy.ops.import_scene.gltf(filepath=path)

meshes = {}
for obj in bpy.data.objects:
    if obj.type != "MESH":
        continue
    keys = obj.data.shape_keys
    meshes[obj.name] = {
        "shape_keys": [block.name for block in keys.key_blocks] if keys else [],
        "vertex_groups": [group.name for group in obj.vertex_groups],
        "armature_modifiers": [m.object.name for m in obj.modifiers if m.type == "ARMATURE" and m.object],
        "vertices": len(obj.data.vertices),
        "materials": [slot.material.name for slot in obj.material_slots if slot.material],
    }
armatures = {obj.name: [bone.name for bone in obj.data.bones] for obj in bpy.data.objects if obj.type == "ARMATURE"}
print("AVATAR_IMPORT " + json.dumps({"meshes": meshes, "armatures": armatures}), flush=True)
