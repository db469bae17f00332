sk_lookup: sk_lookup - section sk_lookup (203 insns)
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
 11: (61) r1 = *(u32 *)(r6 +8)
 12: (15) if r1 == 0x2 goto pc+18
 13: (72) *(u8 *)(r10 -24) = 6
 14: (61) r1 = *(u32 *)(r6 +20)
 15: (63) *(u32 *)(r10 -60) = r1
 16: (61) r1 = *(u32 *)(r6 +44)
 17: (63) *(u32 *)(r10 -40) = r1
 18: (61) r1 = *(u32 *)(r6 +24)
 19: (63) *(u32 *)(r10 -56) = r1
 20: (61) r1 = *(u32 *)(r6 +48)
 21: (63) *(u32 *)(r10 -36) = r1
 22: (61) r1 = *(u32 *)(r6 +28)
 23: (63) *(u32 *)(r10 -52) = r1
 24: (61) r1 = *(u32 *)(r6 +52)
 25: (63) *(u32 *)(r10 -32) = r1
 26: (61) r1 = *(u32 *)(r6 +32)
 27: (63) *(u32 *)(r10 -48) = r1
 28: (61) r1 = *(u32 *)(r6 +56)
 29: (63) *(u32 *)(r10 -28) = r1
 30: (05) goto pc+5
 31: (72) *(u8 *)(r10 -24) = 4
 32: (61) r1 = *(u32 *)(r6 +16)
 33: (63) *(u32 *)(r10 -76) = r1
 34: (61) r1 = *(u32 *)(r6 +40)
 35: (63) *(u32 *)(r10 -68) = r1
 36: (61) r1 = *(u32 *)(r6 +12)
 37: (73) *(u8 *)(r10 -23) = r1
 38: (72) *(u8 *)(r10 -22) = 1
 39: (69) r1 = *(u16 *)(r6 +36)
 40: (dc) r1 = be16 r1
 41: (6b) *(u16 *)(r10 -20) = r1
 42: (61) r1 = *(u32 *)(r6 +60)
 43: (6b) *(u16 *)(r10 -18) = r1
; line 11: redirect 3.3.3.3:* to sock proxy
 44: (71) r1 = *(u8 *)(r10 -24)
 45: (55) if r1 != 0x4 goto pc+6
 46: (71) r1 = *(u8 *)(r10 -23)
 47: (55) if r1 != 0x6 goto pc+29
 48: (61) r1 = *(u32 *)(r10 -68)
 49: (56) if w1 != 0x3030303 goto pc+20
 50: (62) *(u32 *)(r10 -8) = 0
 51: (05) goto pc+51
; line 12: redirect [2001:db8::1]:443 to sock admin
 52: (71) r1 = *(u8 *)(r10 -23)
 53: (55) if r1 != 0x6 goto pc+32
 54: (61) r1 = *(u32 *)(r10 -40)
 55: (a4) w1 ^= -1207107296
 56: (61) r2 = *(u32 *)(r10 -36)
 57: (a4) w2 ^= 0
 58: (4c) w1 |= w2
 59: (61) r2 = *(u32 *)(r10 -32)
 60: (a4) w2 ^= 0
 61: (4c) w1 |= w2
 62: (61) r2 = *(u32 *)(r10 -28)
 63: (a4) w2 ^= 16777216
 64: (4c) w1 |= w2
 65: (56) if w1 != 0x0 goto pc+20
 66: (69) r1 = *(u16 *)(r10 -18)
 67: (55) if r1 != 0x1bb goto pc+18
 68: (62) *(u32 *)(r10 -8) = 1
 69: (05) goto pc+54
; line 13: redirect 4.4.4.0/24:9000 to sock dual
 70: (61) r1 = *(u32 *)(r10 -68)
 71: (54) w1 &= 16777215
 72: (56) if w1 != 0x40404 goto pc+13
 73: (69) r1 = *(u16 *)(r10 -18)
 74: (55) if r1 != 0x2328 goto pc+11
 75: (62) *(u32 *)(r10 -8) = 2
 76: (05) goto pc+68
; line 14: redirect 1.1.1.0/24:53 to sock dns
 77: (71) r1 = *(u8 *)(r10 -23)
 78: (55) if r1 != 0x11 goto pc+7
 79: (61) r1 = *(u32 *)(r10 -68)
 80: (54) w1 &= 16777215
 81: (56) if w1 != 0x10101 goto pc+4
 82: (69) r1 = *(u16 *)(r10 -18)
 83: (55) if r1 != 0x35 goto pc+2
 84: (62) *(u32 *)(r10 -8) = 3
 85: (05) goto pc+80
; line 15: default pass
 86: (62) *(u32 *)(r10 -8) = 4
 87: (b7) r9 = 1
 88: (18) r1 = map[counters]
 90: (bf) r2 = r10
 91: (07) r2 += -8
 92: (85) call bpf_map_lookup_elem#1
 93: (15) if r0 == 0x0 goto pc+7
 94: (79) r1 = *(u64 *)(r0 +0)
 95: (07) r1 += 1
 96: (7b) *(u64 *)(r0 +0) = r1
 97: (79) r1 = *(u64 *)(r0 +8)
 98: (61) r2 = *(u32 *)(r10 -12)
 99: (0f) r1 += r2
100: (7b) *(u64 *)(r0 +8) = r1
101: (bf) r0 = r9
102: (95) exit
; redirect to socket sock0: its slot in the socket map
103: (62) *(u32 *)(r10 -4) = 0
104: (18) r1 = map[sockets]
106: (bf) r2 = r10
107: (07) r2 += -4
108: (85) call bpf_map_lookup_elem#1
109: (15) if r0 == 0x0 goto pc+12
110: (bf) r7 = r0
111: (bf) r1 = r6
112: (bf) r2 = r7
113: (b7) r3 = 0
114: (85) call bpf_sk_assign#124
115: (bf) r8 = r0
116: (bf) r1 = r7
117: (85) call bpf_sk_release#86
118: (b7) r9 = 1
119: (15) if r8 == 0x0 goto pc-32
120: (b7) r1 = 1
121: (05) goto pc+65
122: (b7) r1 = 0
123: (05) goto pc+63
; redirect to socket sock1: its slot in the socket map
124: (62) *(u32 *)(r10 -4) = 1
125: (18) r1 = map[sockets]
127: (bf) r2 = r10
128: (07) r2 += -4
129: (85) call bpf_map_lookup_elem#1
130: (15) if r0 == 0x0 goto pc+12
131: (bf) r7 = r0
132: (bf) r1 = r6
133: (bf) r2 = r7
134: (b7) r3 = 0
135: (85) call bpf_sk_assign#124
136: (bf) r8 = r0
137: (bf) r1 = r7
138: (85) call bpf_sk_release#86
139: (b7) r9 = 1
140: (15) if r8 == 0x0 goto pc-53
141: (b7) r1 = 3
142: (05) goto pc+44
143: (b7) r1 = 2
144: (05) goto pc+42
; redirect to socket sock2: its slot in the socket map
145: (62) *(u32 *)(r10 -4) = 2
146: (18) r1 = map[sockets]
148: (bf) r2 = r10
149: (07) r2 += -4
150: (85) call bpf_map_lookup_elem#1
151: (15) if r0 == 0x0 goto pc+12
152: (bf) r7 = r0
153: (bf) r1 = r6
154: (bf) r2 = r7
155: (b7) r3 = 0
156: (85) call bpf_sk_assign#124
157: (bf) r8 = r0
158: (bf) r1 = r7
159: (85) call bpf_sk_release#86
160: (b7) r9 = 1
161: (15) if r8 == 0x0 goto pc-74
162: (b7) r1 = 5
163: (05) goto pc+23
164: (b7) r1 = 4
165: (05) goto pc+21
; redirect to socket sock3: its slot in the socket map
166: (62) *(u32 *)(r10 -4) = 3
167: (18) r1 = map[sockets]
169: (bf) r2 = r10
170: (07) r2 += -4
171: (85) call bpf_map_lookup_elem#1
172: (15) if r0 == 0x0 goto pc+12
173: (bf) r7 = r0
174: (bf) r1 = r6
175: (bf) r2 = r7
176: (b7) r3 = 0
177: (85) call bpf_sk_assign#124
178: (bf) r8 = r0
179: (bf) r1 = r7
180: (85) call bpf_sk_release#86
181: (b7) r9 = 1
182: (15) if r8 == 0x0 goto pc-95
183: (b7) r1 = 7
184: (05) goto pc+2
185: (b7) r1 = 6
186: (05) goto pc+0
; redirect dropped: count it for the socket
187: (63) *(u32 *)(r10 -4) = r1
188: (18) r1 = map[socket_drops]
190: (bf) r2 = r10
191: (07) r2 += -4
192: (85) call bpf_map_lookup_elem#1
193: (15) if r0 == 0x0 goto pc+7
194: (79) r1 = *(u64 *)(r0 +0)
195: (07) r1 += 1
196: (7b) *(u64 *)(r0 +0) = r1
197: (79) r1 = *(u64 *)(r0 +8)
198: (61) r2 = *(u32 *)(r10 -12)
199: (0f) r1 += r2
200: (7b) *(u64 *)(r0 +8) = r1
201: (b7) r9 = 0
202: (05) goto pc-115

sklreg_proxy_se: sk_lookup register /sys/fs/cgroup/unified/proxy.service section sockops (97 insns)
; sk_lookup register: a socket of cgroup /sys/fs/cgroup/unified/proxy.service listening on a declared address goes into its slot
  0: (bf) r6 = r1
  1: (61) r1 = *(u32 *)(r6 +0)
  2: (15) if r1 == 0xb goto pc+2
  3: (b7) r0 = 1
  4: (95) exit
; the install's network namespace only
  5: (bf) r1 = r6
  6: (85) call bpf_get_netns_cookie#122
  7: (56) if w0 != 0x0 goto pc+3
  8: (77) r0 >>= 32
  9: (56) if w0 != 0x0 goto pc+1
 10: (05) goto pc+2
 11: (b7) r0 = 1
 12: (95) exit
 13: (61) r7 = *(u32 *)(r6 +20)
 14: (61) r8 = *(u32 *)(r6 +68)
; socket proxy: tcp 127.0.0.1:8080
 15: (55) if r8 != 0x1f90 goto pc+41
 16: (55) if r7 != 0x2 goto pc+3
 17: (61) r1 = *(u32 *)(r6 +28)
 18: (56) if w1 != 0x100007f goto pc+38
 19: (05) goto pc+9
 20: (55) if r7 != 0xa goto pc+36
 21: (61) r1 = *(u32 *)(r6 +48)
 22: (56) if w1 != 0x0 goto pc+34
 23: (61) r1 = *(u32 *)(r6 +52)
 24: (56) if w1 != 0x0 goto pc+32
 25: (61) r1 = *(u32 *)(r6 +56)
 26: (56) if w1 != 0xffff0000 goto pc+30
 27: (61) r1 = *(u32 *)(r6 +60)
 28: (56) if w1 != 0x100007f goto pc+28
 29: (62) *(u32 *)(r10 -4) = 0
 30: (bf) r1 = r6
 31: (18) r2 = map[sockets]
 33: (bf) r3 = r10
 34: (07) r3 += -4
 35: (b7) r4 = 0
 36: (85) call bpf_sock_map_update#53
 37: (62) *(u32 *)(r10 -12) = 0
 38: (55) if r0 != 0x0 goto pc+2
 39: (62) *(u32 *)(r10 -8) = 5
 40: (05) goto pc+1
 41: (62) *(u32 *)(r10 -8) = 6
 42: (18) r1 = map[counters]
 44: (bf) r2 = r10
 45: (07) r2 += -8
 46: (85) call bpf_map_lookup_elem#1
 47: (15) if r0 == 0x0 goto pc+7
 48: (79) r1 = *(u64 *)(r0 +0)
 49: (07) r1 += 1
 50: (7b) *(u64 *)(r0 +0) = r1
 51: (79) r1 = *(u64 *)(r0 +8)
 52: (61) r2 = *(u32 *)(r10 -12)
 53: (0f) r1 += r2
 54: (7b) *(u64 *)(r0 +8) = r1
 55: (b7) r0 = 1
 56: (95) exit
; socket admin: tcp ::1:8443
 57: (55) if r8 != 0x20fb goto pc+37
 58: (55) if r7 != 0xa goto pc+36
 59: (61) r1 = *(u32 *)(r6 +48)
 60: (56) if w1 != 0x0 goto pc+34
 61: (61) r1 = *(u32 *)(r6 +52)
 62: (56) if w1 != 0x0 goto pc+32
 63: (61) r1 = *(u32 *)(r6 +56)
 64: (56) if w1 != 0x0 goto pc+30
 65: (61) r1 = *(u32 *)(r6 +60)
 66: (56) if w1 != 0x1000000 goto pc+28
 67: (62) *(u32 *)(r10 -4) = 1
 68: (bf) r1 = r6
 69: (18) r2 = map[sockets]
 71: (bf) r3 = r10
 72: (07) r3 += -4
 73: (b7) r4 = 0
 74: (85) call bpf_sock_map_update#53
 75: (62) *(u32 *)(r10 -12) = 0
 76: (55) if r0 != 0x0 goto pc+2
 77: (62) *(u32 *)(r10 -8) = 5
 78: (05) goto pc+1
 79: (62) *(u32 *)(r10 -8) = 6
 80: (18) r1 = map[counters]
 82: (bf) r2 = r10
 83: (07) r2 += -8
 84: (85) call bpf_map_lookup_elem#1
 85: (15) if r0 == 0x0 goto pc+7
 86: (79) r1 = *(u64 *)(r0 +0)
 87: (07) r1 += 1
 88: (7b) *(u64 *)(r0 +0) = r1
 89: (79) r1 = *(u64 *)(r0 +8)
 90: (61) r2 = *(u32 *)(r10 -12)
 91: (0f) r1 += r2
 92: (7b) *(u64 *)(r0 +8) = r1
 93: (b7) r0 = 1
 94: (95) exit
 95: (b7) r0 = 1
 96: (95) exit

sklreg_dual_ser: sk_lookup register /sys/fs/cgroup/unified/dual.service section sockops (55 insns)
; sk_lookup register: a socket of cgroup /sys/fs/cgroup/unified/dual.service listening on a declared address goes into its slot
  0: (bf) r6 = r1
  1: (61) r1 = *(u32 *)(r6 +0)
  2: (15) if r1 == 0xb goto pc+2
  3: (b7) r0 = 1
  4: (95) exit
; the install's network namespace only
  5: (bf) r1 = r6
  6: (85) call bpf_get_netns_cookie#122
  7: (56) if w0 != 0x0 goto pc+3
  8: (77) r0 >>= 32
  9: (56) if w0 != 0x0 goto pc+1
 10: (05) goto pc+2
 11: (b7) r0 = 1
 12: (95) exit
 13: (61) r7 = *(u32 *)(r6 +20)
 14: (61) r8 = *(u32 *)(r6 +68)
; socket dual: tcp :::9000
 15: (55) if r8 != 0x2328 goto pc+37
 16: (55) if r7 != 0xa goto pc+36
 17: (61) r1 = *(u32 *)(r6 +48)
 18: (56) if w1 != 0x0 goto pc+34
 19: (61) r1 = *(u32 *)(r6 +52)
 20: (56) if w1 != 0x0 goto pc+32
 21: (61) r1 = *(u32 *)(r6 +56)
 22: (56) if w1 != 0x0 goto pc+30
 23: (61) r1 = *(u32 *)(r6 +60)
 24: (56) if w1 != 0x0 goto pc+28
 25: (62) *(u32 *)(r10 -4) = 2
 26: (bf) r1 = r6
 27: (18) r2 = map[sockets]
 29: (bf) r3 = r10
 30: (07) r3 += -4
 31: (b7) r4 = 0
 32: (85) call bpf_sock_map_update#53
 33: (62) *(u32 *)(r10 -12) = 0
 34: (55) if r0 != 0x0 goto pc+2
 35: (62) *(u32 *)(r10 -8) = 7
 36: (05) goto pc+1
 37: (62) *(u32 *)(r10 -8) = 8
 38: (18) r1 = map[counters]
 40: (bf) r2 = r10
 41: (07) r2 += -8
 42: (85) call bpf_map_lookup_elem#1
 43: (15) if r0 == 0x0 goto pc+7
 44: (79) r1 = *(u64 *)(r0 +0)
 45: (07) r1 += 1
 46: (7b) *(u64 *)(r0 +0) = r1
 47: (79) r1 = *(u64 *)(r0 +8)
 48: (61) r2 = *(u32 *)(r10 -12)
 49: (0f) r1 += r2
 50: (7b) *(u64 *)(r0 +8) = r1
 51: (b7) r0 = 1
 52: (95) exit
 53: (b7) r0 = 1
 54: (95) exit

