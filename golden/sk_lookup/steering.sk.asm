sk_lookup: sk_lookup - section sk_lookup (264 insns)
; prologue: the lookup into the flow record
  0: (bf) r6 = r1
  1: (7a) *(u64 *)(r10 -80) = 0
  2: (7a) *(u64 *)(r10 -72) = 0
  3: (7a) *(u64 *)(r10 -64) = 0
  4: (7a) *(u64 *)(r10 -56) = 0
  5: (7a) *(u64 *)(r10 -48) = 0
  6: (7a) *(u64 *)(r10 -40) = 0
  7: (7a) *(u64 *)(r10 -32) = 0
  8: (7a) *(u64 *)(r10 -24) = 0
  9: (7a) *(u64 *)(r10 -16) = 0
 10: (7a) *(u64 *)(r10 -8) = 0
 11: (62) *(u32 *)(r10 -80) = 32
 12: (62) *(u32 *)(r10 -72) = 32
 13: (62) *(u32 *)(r10 -64) = 128
 14: (62) *(u32 *)(r10 -44) = 128
 15: (61) r1 = *(u32 *)(r6 +8)
 16: (15) if r1 == 0x2 goto pc+19
 17: (55) if r1 != 0xa goto pc+23
 18: (72) *(u8 *)(r10 -24) = 6
 19: (61) r1 = *(u32 *)(r6 +20)
 20: (63) *(u32 *)(r10 -60) = r1
 21: (61) r1 = *(u32 *)(r6 +44)
 22: (63) *(u32 *)(r10 -40) = r1
 23: (61) r1 = *(u32 *)(r6 +24)
 24: (63) *(u32 *)(r10 -56) = r1
 25: (61) r1 = *(u32 *)(r6 +48)
 26: (63) *(u32 *)(r10 -36) = r1
 27: (61) r1 = *(u32 *)(r6 +28)
 28: (63) *(u32 *)(r10 -52) = r1
 29: (61) r1 = *(u32 *)(r6 +52)
 30: (63) *(u32 *)(r10 -32) = r1
 31: (61) r1 = *(u32 *)(r6 +32)
 32: (63) *(u32 *)(r10 -48) = r1
 33: (61) r1 = *(u32 *)(r6 +56)
 34: (63) *(u32 *)(r10 -28) = r1
 35: (05) goto pc+5
 36: (72) *(u8 *)(r10 -24) = 4
 37: (61) r1 = *(u32 *)(r6 +16)
 38: (63) *(u32 *)(r10 -76) = r1
 39: (61) r1 = *(u32 *)(r6 +40)
 40: (63) *(u32 *)(r10 -68) = r1
 41: (61) r1 = *(u32 *)(r6 +12)
 42: (73) *(u8 *)(r10 -23) = r1
 43: (72) *(u8 *)(r10 -22) = 1
 44: (69) r1 = *(u16 *)(r6 +36)
 45: (dc) r1 = be16 r1
 46: (6b) *(u16 *)(r10 -20) = r1
 47: (61) r1 = *(u32 *)(r6 +60)
 48: (6b) *(u16 *)(r10 -18) = r1
; line 11: drop from @blocked
 49: (71) r1 = *(u8 *)(r10 -24)
 50: (15) if r1 == 0x0 goto pc+96
 51: (71) r1 = *(u8 *)(r10 -24)
 52: (55) if r1 != 0x4 goto pc+7
 53: (18) r1 = map[set_blocked_v4]
 55: (bf) r2 = r10
 56: (07) r2 += -80
 57: (85) call bpf_map_lookup_elem#1
 58: (15) if r0 == 0x0 goto pc+10
 59: (05) goto pc+6
 60: (18) r1 = map[set_blocked_v6]
 62: (bf) r2 = r10
 63: (07) r2 += -64
 64: (85) call bpf_map_lookup_elem#1
 65: (15) if r0 == 0x0 goto pc+3
 66: (62) *(u32 *)(r10 -8) = 0
 67: (b7) r9 = 0
 68: (05) goto pc+80
; line 12: count tcp to 3.3.3.0/24
 69: (71) r1 = *(u8 *)(r10 -24)
 70: (55) if r1 != 0x4 goto pc+34
 71: (71) r1 = *(u8 *)(r10 -23)
 72: (55) if r1 != 0x6 goto pc+21
 73: (61) r1 = *(u32 *)(r10 -68)
 74: (54) w1 &= 16777215
 75: (56) if w1 != 0x30303 goto pc+47
 76: (62) *(u32 *)(r10 -8) = 1
 77: (18) r1 = map[counters]
 79: (bf) r2 = r10
 80: (07) r2 += -8
 81: (85) call bpf_map_lookup_elem#1
 82: (15) if r0 == 0x0 goto pc+7
 83: (79) r1 = *(u64 *)(r0 +0)
 84: (07) r1 += 1
 85: (7b) *(u64 *)(r0 +0) = r1
 86: (79) r1 = *(u64 *)(r0 +8)
 87: (61) r2 = *(u32 *)(r10 -12)
 88: (0f) r1 += r2
 89: (7b) *(u64 *)(r0 +8) = r1
; line 13: redirect 3.3.3.3:* to sock proxy
 90: (61) r1 = *(u32 *)(r10 -68)
 91: (56) if w1 != 0x3030303 goto pc+43
 92: (62) *(u32 *)(r10 -8) = 2
 93: (05) goto pc+70
; line 14: redirect 1.1.1.0/24:53 to sock dns
 94: (71) r1 = *(u8 *)(r10 -23)
 95: (55) if r1 != 0x11 goto pc+51
 96: (71) r1 = *(u8 *)(r10 -22)
 97: (15) if r1 == 0x0 goto pc+49
 98: (61) r1 = *(u32 *)(r10 -68)
 99: (54) w1 &= 16777215
100: (56) if w1 != 0x10101 goto pc+46
101: (69) r1 = *(u16 *)(r10 -18)
102: (55) if r1 != 0x35 goto pc+44
103: (62) *(u32 *)(r10 -8) = 3
104: (05) goto pc+80
; line 15: redirect [2001:db8::/64]:@webports to sock web6
105: (71) r1 = *(u8 *)(r10 -23)
106: (55) if r1 != 0x6 goto pc+40
107: (71) r1 = *(u8 *)(r10 -22)
108: (15) if r1 == 0x0 goto pc+38
109: (61) r1 = *(u32 *)(r10 -40)
110: (a4) w1 ^= -1207107296
111: (61) r2 = *(u32 *)(r10 -36)
112: (a4) w2 ^= 0
113: (4c) w1 |= w2
114: (56) if w1 != 0x0 goto pc+32
115: (69) r1 = *(u16 *)(r10 -18)
116: (15) if r1 == 0x50 goto pc+4
117: (15) if r1 == 0x1bb goto pc+3
118: (a5) if r1 < 0x1f40 goto pc+28
119: (b5) if r1 <= 0x2327 goto pc+1
120: (05) goto pc+26
121: (62) *(u32 *)(r10 -8) = 4
122: (05) goto pc+83
; line 16: redirect from 10.0.0.0/8 to 4.4.4.4:9000-9099 to sock dual
123: (71) r1 = *(u8 *)(r10 -22)
124: (15) if r1 == 0x0 goto pc+22
125: (61) r1 = *(u32 *)(r10 -76)
126: (54) w1 &= 255
127: (56) if w1 != 0xa goto pc+19
128: (61) r1 = *(u32 *)(r10 -68)
129: (56) if w1 != 0x4040404 goto pc+17
130: (69) r1 = *(u16 *)(r10 -18)
131: (a5) if r1 < 0x2328 goto pc+15
132: (25) if r1 > 0x238b goto pc+14
133: (62) *(u32 *)(r10 -8) = 5
134: (05) goto pc+92
; line 17: pass tcp to 3.3.3.4:22
135: (71) r1 = *(u8 *)(r10 -22)
136: (15) if r1 == 0x0 goto pc+7
137: (61) r1 = *(u32 *)(r10 -68)
138: (56) if w1 != 0x4030303 goto pc+5
139: (69) r1 = *(u16 *)(r10 -18)
140: (55) if r1 != 0x16 goto pc+3
141: (62) *(u32 *)(r10 -8) = 6
142: (b7) r9 = 1
143: (05) goto pc+5
; line 18: drop tcp to 3.3.3.0/24
144: (62) *(u32 *)(r10 -8) = 7
145: (b7) r9 = 0
146: (05) goto pc+2
; line 19: default pass
147: (62) *(u32 *)(r10 -8) = 8
148: (b7) r9 = 1
149: (18) r1 = map[counters]
151: (bf) r2 = r10
152: (07) r2 += -8
153: (85) call bpf_map_lookup_elem#1
154: (15) if r0 == 0x0 goto pc+7
155: (79) r1 = *(u64 *)(r0 +0)
156: (07) r1 += 1
157: (7b) *(u64 *)(r0 +0) = r1
158: (79) r1 = *(u64 *)(r0 +8)
159: (61) r2 = *(u32 *)(r10 -12)
160: (0f) r1 += r2
161: (7b) *(u64 *)(r0 +8) = r1
162: (bf) r0 = r9
163: (95) exit
; redirect to socket sock0 (key 0x7da2065b)
164: (62) *(u32 *)(r10 -4) = 2107770459
165: (18) r1 = map[sockets]
167: (bf) r2 = r10
168: (07) r2 += -4
169: (85) call bpf_map_lookup_elem#1
170: (15) if r0 == 0x0 goto pc+12
171: (bf) r7 = r0
172: (bf) r1 = r6
173: (bf) r2 = r7
174: (b7) r3 = 0
175: (85) call bpf_sk_assign#124
176: (bf) r8 = r0
177: (bf) r1 = r7
178: (85) call bpf_sk_release#86
179: (b7) r9 = 1
180: (15) if r8 == 0x0 goto pc-32
181: (b7) r1 = 1
182: (05) goto pc+65
183: (b7) r1 = 0
184: (05) goto pc+63
; redirect to socket sock1 (key 0xda6ae8bc)
185: (62) *(u32 *)(r10 -4) = -630527812
186: (18) r1 = map[sockets]
188: (bf) r2 = r10
189: (07) r2 += -4
190: (85) call bpf_map_lookup_elem#1
191: (15) if r0 == 0x0 goto pc+12
192: (bf) r7 = r0
193: (bf) r1 = r6
194: (bf) r2 = r7
195: (b7) r3 = 0
196: (85) call bpf_sk_assign#124
197: (bf) r8 = r0
198: (bf) r1 = r7
199: (85) call bpf_sk_release#86
200: (b7) r9 = 1
201: (15) if r8 == 0x0 goto pc-53
202: (b7) r1 = 3
203: (05) goto pc+44
204: (b7) r1 = 2
205: (05) goto pc+42
; redirect to socket sock2 (key 0x9ac3fae5)
206: (62) *(u32 *)(r10 -4) = -1698432283
207: (18) r1 = map[sockets]
209: (bf) r2 = r10
210: (07) r2 += -4
211: (85) call bpf_map_lookup_elem#1
212: (15) if r0 == 0x0 goto pc+12
213: (bf) r7 = r0
214: (bf) r1 = r6
215: (bf) r2 = r7
216: (b7) r3 = 0
217: (85) call bpf_sk_assign#124
218: (bf) r8 = r0
219: (bf) r1 = r7
220: (85) call bpf_sk_release#86
221: (b7) r9 = 1
222: (15) if r8 == 0x0 goto pc-74
223: (b7) r1 = 5
224: (05) goto pc+23
225: (b7) r1 = 4
226: (05) goto pc+21
; redirect to socket sock3 (key 0xbe36b55f)
227: (62) *(u32 *)(r10 -4) = -1103710881
228: (18) r1 = map[sockets]
230: (bf) r2 = r10
231: (07) r2 += -4
232: (85) call bpf_map_lookup_elem#1
233: (15) if r0 == 0x0 goto pc+12
234: (bf) r7 = r0
235: (bf) r1 = r6
236: (bf) r2 = r7
237: (b7) r3 = 0
238: (85) call bpf_sk_assign#124
239: (bf) r8 = r0
240: (bf) r1 = r7
241: (85) call bpf_sk_release#86
242: (b7) r9 = 1
243: (15) if r8 == 0x0 goto pc-95
244: (b7) r1 = 7
245: (05) goto pc+2
246: (b7) r1 = 6
247: (05) goto pc+0
; redirect dropped: count it for the socket
248: (63) *(u32 *)(r10 -4) = r1
249: (18) r1 = map[socket_drops]
251: (bf) r2 = r10
252: (07) r2 += -4
253: (85) call bpf_map_lookup_elem#1
254: (15) if r0 == 0x0 goto pc+7
255: (79) r1 = *(u64 *)(r0 +0)
256: (07) r1 += 1
257: (7b) *(u64 *)(r0 +0) = r1
258: (79) r1 = *(u64 *)(r0 +8)
259: (61) r2 = *(u32 *)(r10 -12)
260: (0f) r1 += r2
261: (7b) *(u64 *)(r0 +8) = r1
262: (b7) r9 = 0
263: (05) goto pc-115

